"""Short post texts per language and risk category for the sample world.

Each pool is the cross product opener x core phrase x closer x decoration, so a few dozen
hand-written phrases give hundreds of distinct strings per language and category; items then
only draw an index, which keeps ten million rows cheap. Decorations carry URLs, phone numbers,
emoji, hashtags and digits; openers and closers add code-mixing and length variety, which the
error analysis turns into features. Hate targets and abusive material are placeholders
([GROUP], [REDACTED]): the texts only need to look like their category to a keyword reader.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import product

SAFE = "none"

# Categories whose posts push a contact, link or payment: promotional decorations.
PROMO_CATEGORIES = frozenset(
    {"child_safety", "human_trafficking", "drugs", "gambling", "scam_fraud", "spam"}
)

SAFE_DECOR = ("", " 😂", " ❤️❤️", " #fyp", " 👍 10/10", " https://youtu.be/dQw4w9")
PROMO_DECOR = (
    "",
    " 🔥🔥",
    " https://bit.ly/4kQz9",
    " t.me/deal888",
    " 📲 +62 812-5550-1234",
    " 💰 100% 💰",
    " www.win888.vip",
)
HOSTILE_DECOR = ("", " 😡", " 🤬🤬", "!!!", " #truth", " https://t.co/x7Yp2")

OPENERS: dict[str, tuple[str, ...]] = {
    "en": ("", "guys, ", "ok so ", "PSA: ", "lol "),
    "es": ("", "chicos, ", "oye ", "ATENCIÓN: ", "jaja "),
    "pt": ("", "galera, ", "gente ", "ATENÇÃO: ", "kkkk "),
    "ar": ("", "يا جماعة، ", "بصراحة ", "تنبيه: ", "هههه "),
    "hi": ("", "दोस्तों, ", "bhai ", "ध्यान दें: ", "haha "),
    "id": ("", "guys, ", "wkwk ", "INFO: ", "gaes "),
    "zh": ("", "兄弟们，", "姐妹们 check 一下：", "【转发】", "说真的，"),
    "th": ("", "ทุกคน ", "555 ", "ประกาศ: ", "แก "),
}

CLOSERS: dict[str, tuple[str, ...]] = {
    "en": (
        "",
        "!!",
        ", trust me",
        ". drop a comment if you agree and share with your friends",
        " fr",
    ),
    "es": (
        "",
        "!!",
        ", en serio",
        ". comenten si están de acuerdo y compartan con sus amigos",
        " bro",
    ),
    "pt": ("", "!!", ", sério", ". comenta aí se concorda e compartilha com os amigos", " mano"),
    "ar": ("", "!!", "، والله", ". اكتبوا رأيكم في التعليقات وشاركوا مع أصدقائكم", " bro"),
    "hi": ("", "!!", ", सच में", ". कमेंट में बताओ और दोस्तों के साथ शेयर करो", " yaar"),
    "id": ("", "!!", ", serius", ". komen kalau setuju dan share ke teman-teman", " bro"),
    "zh": ("", "，真的 amazing", "，懂的都懂", "。有问题评论区见，记得点赞关注", " so crazy"),
    "th": ("", "!!", " จริงๆ นะ", " คอมเมนต์บอกหน่อยแล้วแชร์ให้เพื่อนด้วย", " 555+"),
}

PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        SAFE: (
            "just finished my morning run",
            "this recipe turned out amazing",
            "who else is watching the match tonight",
            "new video about budget travel is up",
            "my cat refuses to get off the keyboard",
            "traffic downtown is terrible today",
            "can anyone recommend a good phone under 300",
            "happy birthday to my little sister",
            "study session at the library with friends",
            "the sunset at the beach was unreal",
        ),
        "child_safety": (
            "trading [REDACTED] pics of minors, private group only",
            "looking for young kids content, dm me",
            "selling [REDACTED] videos of children, link in bio",
        ),
        "human_trafficking": (
            "overseas jobs for girls, agency keeps your passport",
            "workers available for transport, no papers needed",
            "we move people across the border, cash only",
        ),
        "violent_extremism": (
            "join the fighters of [GROUP], glory to the martyrs",
            "the attack was justified, more will follow",
            "recruiting brothers for the cause, training camp open",
        ),
        "graphic_violence": (
            "uncensored video of the crash, blood everywhere",
            "watch him get beaten until he stops moving",
            "full gore clip from the shooting, not blurred",
        ),
        "hate_speech": (
            "[GROUP] are vermin and should be kicked out",
            "all [GROUP] people are criminals by nature",
            "no [GROUP] allowed here, they ruin everything",
        ),
        "harassment": (
            "you are so ugly nobody will ever love you",
            "everyone go spam her comments until she quits",
            "kys loser, nobody wants you here",
        ),
        "drugs": (
            "selling weed and pills, discreet delivery",
            "got molly and coke for the weekend, hmu",
            "cheap oxy no prescription, dm for menu",
        ),
        "gambling": (
            "online casino 200% welcome bonus, bet now",
            "sure win football tips, join our betting group",
            "slot jackpot every night, deposit 10 get 50",
        ),
        "scam_fraud": (
            "guaranteed 30% daily profit, send USDT to start",
            "you won an iPhone, pay shipping to claim",
            "work from home, earn 500 a day, pay a small fee first",
        ),
        "spam": (
            "follow for follow, free followers here",
            "click the link for free gift cards",
            "cheap likes and views, 1000 for 1 dollar",
        ),
    },
    "es": {
        SAFE: (
            "acabo de terminar mi carrera de la mañana",
            "esta receta quedó increíble",
            "quién más ve el partido esta noche",
            "nuevo video de viajes baratos",
            "mi gato no se baja del teclado",
            "el tráfico en el centro está horrible hoy",
            "feliz cumpleaños a mi hermanita",
            "tarde de estudio en la biblioteca",
            "el atardecer en la playa estuvo brutal",
            "alguien recomienda un celular barato",
        ),
        "child_safety": (
            "intercambio fotos [REDACTED] de menores, grupo privado",
            "busco contenido de niños pequeños, escríbeme",
            "vendo videos [REDACTED] de niños, link en la bio",
        ),
        "human_trafficking": (
            "trabajo en el extranjero para chicas, la agencia guarda tu pasaporte",
            "pasamos gente por la frontera, solo efectivo",
            "trabajadores disponibles sin papeles, transporte incluido",
        ),
        "violent_extremism": (
            "únete a los combatientes de [GROUP], gloria a los mártires",
            "el atentado fue justo, vendrán más",
            "reclutamos hermanos para la causa, campo de entrenamiento abierto",
        ),
        "graphic_violence": (
            "video sin censura del choque, sangre por todos lados",
            "miren cómo lo golpean hasta que no se mueve",
            "clip completo del tiroteo sin difuminar",
        ),
        "hate_speech": (
            "los [GROUP] son una plaga y hay que echarlos",
            "todos los [GROUP] son criminales por naturaleza",
            "aquí no queremos [GROUP], lo arruinan todo",
        ),
        "harassment": (
            "eres tan fea que nadie te va a querer",
            "vamos todos a llenarle los comentarios hasta que se vaya",
            "muérete perdedor, nadie te quiere aquí",
        ),
        "drugs": (
            "vendo mota y pastillas, entrega discreta",
            "tengo perico para el finde, escríbeme",
            "oxy barata sin receta, pide el menú por dm",
        ),
        "gambling": (
            "casino online bono de 200%, apuesta ya",
            "pronósticos seguros de fútbol, únete al grupo de apuestas",
            "tragamonedas con jackpot cada noche, deposita 10 y recibe 50",
        ),
        "scam_fraud": (
            "ganancia garantizada del 30% diario, envía USDT",
            "ganaste un iPhone, paga el envío para reclamarlo",
            "trabaja desde casa y gana 500 al día, paga una pequeña cuota",
        ),
        "spam": (
            "sígueme y te sigo, seguidores gratis aquí",
            "clic en el link para tarjetas de regalo gratis",
            "likes y vistas baratas, 1000 por 1 dólar",
        ),
    },
    "pt": {
        SAFE: (
            "acabei de terminar minha corrida da manhã",
            "essa receita ficou incrível",
            "quem mais vai ver o jogo hoje",
            "vídeo novo sobre viagem barata no ar",
            "meu gato não sai do teclado",
            "o trânsito no centro está péssimo hoje",
            "feliz aniversário pra minha irmãzinha",
            "estudando na biblioteca com os amigos",
            "o pôr do sol na praia estava surreal",
            "alguém indica um celular bom e barato",
        ),
        "child_safety": (
            "troco fotos [REDACTED] de menores, grupo privado",
            "procuro conteúdo de crianças, me chama no privado",
            "vendo vídeos [REDACTED] de crianças, link na bio",
        ),
        "human_trafficking": (
            "emprego no exterior para moças, a agência fica com o passaporte",
            "levamos pessoas pela fronteira, só dinheiro vivo",
            "trabalhadores sem documentos disponíveis, transporte incluso",
        ),
        "violent_extremism": (
            "junte-se aos combatentes de [GROUP], glória aos mártires",
            "o ataque foi justo, virão mais",
            "recrutando irmãos para a causa, campo de treino aberto",
        ),
        "graphic_violence": (
            "vídeo sem censura do acidente, sangue pra todo lado",
            "olha ele apanhando até parar de se mexer",
            "clipe completo do tiroteio sem borrar",
        ),
        "hate_speech": (
            "os [GROUP] são uma praga e devem ser expulsos",
            "todo [GROUP] é criminoso por natureza",
            "aqui não queremos [GROUP], eles estragam tudo",
        ),
        "harassment": (
            "você é tão feia que ninguém vai te amar",
            "bora todo mundo lotar os comentários dela até ela sair",
            "se mata perdedor, ninguém te quer aqui",
        ),
        "drugs": (
            "vendo maconha e bala, entrega discreta",
            "tenho pó pro fim de semana, chama",
            "oxi barato sem receita, pede o cardápio no privado",
        ),
        "gambling": (
            "cassino online bônus de 200%, aposte agora",
            "palpites certos de futebol, entre no grupo de apostas",
            "caça-níquel com jackpot toda noite, deposite 10 e ganhe 50",
        ),
        "scam_fraud": (
            "lucro garantido de 30% ao dia, envie USDT",
            "você ganhou um iPhone, pague o frete para receber",
            "trabalhe em casa e ganhe 500 por dia, pague uma taxa antes",
        ),
        "spam": (
            "sigo de volta, seguidores grátis aqui",
            "clique no link para vale-presente grátis",
            "curtidas e views baratos, 1000 por 1 real",
        ),
    },
    "ar": {
        SAFE: (
            "أنهيت للتو الجري الصباحي",
            "هذه الوصفة كانت رائعة",
            "من سيشاهد المباراة الليلة",
            "فيديو جديد عن السفر الاقتصادي",
            "قطتي لا تريد النزول عن لوحة المفاتيح",
            "الزحام في وسط المدينة فظيع اليوم",
            "عيد ميلاد سعيد لأختي الصغيرة",
            "جلسة مذاكرة في المكتبة مع الأصدقاء",
            "غروب الشمس على البحر كان خيالياً",
            "هل من ينصحني بهاتف جيد ورخيص",
        ),
        "child_safety": (
            "تبادل صور [REDACTED] لقاصرين، مجموعة خاصة",
            "أبحث عن محتوى أطفال صغار، راسلني",
            "بيع فيديوهات [REDACTED] لأطفال، الرابط في البايو",
        ),
        "human_trafficking": (
            "وظائف بالخارج للفتيات، الوكالة تحتفظ بجواز السفر",
            "ننقل الأشخاص عبر الحدود، الدفع نقداً فقط",
            "عمال بدون أوراق متاحون، النقل مشمول",
        ),
        "violent_extremism": (
            "انضم إلى مقاتلي [GROUP]، المجد للشهداء",
            "الهجوم كان مبرراً وسيأتي المزيد",
            "نجند الإخوة للقضية، معسكر التدريب مفتوح",
        ),
        "graphic_violence": (
            "فيديو الحادث بدون رقابة، الدماء في كل مكان",
            "شاهدوه يُضرب حتى توقف عن الحركة",
            "مقطع كامل لإطلاق النار بدون تشويش",
        ),
        "hate_speech": (
            "[GROUP] حشرات ويجب طردهم",
            "كل [GROUP] مجرمون بطبعهم",
            "لا نريد [GROUP] هنا، يخربون كل شيء",
        ),
        "harassment": (
            "أنتِ قبيحة جداً ولن يحبك أحد",
            "هيا نملأ تعليقاتها حتى تترك المنصة",
            "يا فاشل لا أحد يريدك هنا",
        ),
        "drugs": (
            "حشيش وحبوب للبيع، توصيل سري",
            "عندي كبتاجون لنهاية الأسبوع، راسلني",
            "ترامادول رخيص بدون وصفة، اطلب القائمة",
        ),
        "gambling": (
            "كازينو أونلاين مكافأة 200%، راهن الآن",
            "توقعات مضمونة لكرة القدم، انضم لمجموعة الرهان",
            "جاكبوت كل ليلة، أودع 10 واحصل على 50",
        ),
        "scam_fraud": (
            "ربح مضمون 30% يومياً، أرسل USDT",
            "ربحت آيفون، ادفع الشحن لاستلامه",
            "اعمل من البيت واكسب 500 يومياً، ادفع رسوماً صغيرة أولاً",
        ),
        "spam": (
            "تابعني وأتابعك، متابعين مجاناً",
            "اضغط الرابط لبطاقات هدايا مجانية",
            "لايكات ومشاهدات رخيصة، 1000 بدولار",
        ),
    },
    "hi": {
        SAFE: (
            "अभी सुबह की दौड़ पूरी की",
            "ये रेसिपी कमाल की बनी",
            "आज रात मैच कौन देख रहा है",
            "सस्ते सफ़र पर नया वीडियो आ गया",
            "मेरी बिल्ली कीबोर्ड से हटती ही नहीं",
            "आज शहर में ट्रैफ़िक बहुत बुरा है",
            "मेरी छोटी बहन को जन्मदिन मुबारक",
            "दोस्तों के साथ लाइब्रेरी में पढ़ाई",
            "समुद्र किनारे सूर्यास्त शानदार था",
            "कोई अच्छा सस्ता फ़ोन बताओ yaar",
        ),
        "child_safety": (
            "नाबालिगों की [REDACTED] तस्वीरें बदलो, प्राइवेट ग्रुप",
            "छोटे बच्चों का कंटेंट चाहिए, DM करो",
            "बच्चों के [REDACTED] वीडियो बिकाऊ, लिंक बायो में",
        ),
        "human_trafficking": (
            "लड़कियों के लिए विदेश में नौकरी, पासपोर्ट एजेंसी रखेगी",
            "बॉर्डर पार लोग पहुँचाते हैं, सिर्फ़ कैश",
            "बिना कागज़ के मज़दूर उपलब्ध, ट्रांसपोर्ट शामिल",
        ),
        "violent_extremism": (
            "[GROUP] के लड़ाकों से जुड़ो, शहीदों की जय",
            "हमला सही था, और होंगे",
            "मकसद के लिए भाइयों की भर्ती, ट्रेनिंग कैंप खुला",
        ),
        "graphic_violence": (
            "एक्सीडेंट का बिना सेंसर वीडियो, हर तरफ़ खून",
            "देखो उसे तब तक पीटा जब तक वो हिलना बंद न हुआ",
            "गोलीबारी की पूरी क्लिप, बिना ब्लर",
        ),
        "hate_speech": (
            "[GROUP] कीड़े हैं, इन्हें बाहर निकालो",
            "सारे [GROUP] जन्म से अपराधी हैं",
            "यहाँ [GROUP] नहीं चाहिए, सब बर्बाद करते हैं",
        ),
        "harassment": (
            "तू इतनी बदसूरत है कोई प्यार नहीं करेगा",
            "सब मिलकर इसके कमेंट्स भर दो जब तक ये छोड़ न दे",
            "मर जा loser, यहाँ कोई नहीं चाहता तुझे",
        ),
        "drugs": (
            "गांजा और गोलियां बिकाऊ, डिस्क्रीट डिलीवरी",
            "वीकेंड के लिए माल है, DM करो",
            "बिना पर्ची सस्ती दवा, मेन्यू के लिए मैसेज करो",
        ),
        "gambling": (
            "ऑनलाइन कैसीनो 200% बोनस, अभी दांव लगाओ",
            "पक्की क्रिकेट टिप्स, सट्टा ग्रुप जॉइन करो",
            "हर रात जैकपॉट, 10 जमा करो 50 पाओ",
        ),
        "scam_fraud": (
            "रोज़ 30% पक्का मुनाफ़ा, USDT भेजो",
            "आपने iPhone जीता है, शिपिंग चार्ज भरें",
            "घर बैठे रोज़ 500 कमाओ, पहले छोटी फ़ीस दो",
        ),
        "spam": (
            "फ़ॉलो के बदले फ़ॉलो, फ़्री फ़ॉलोअर्स यहाँ",
            "फ़्री गिफ़्ट कार्ड के लिए लिंक पर क्लिक करो",
            "सस्ते लाइक्स और व्यूज़, 1000 सिर्फ़ 1 डॉलर में",
        ),
    },
    "id": {
        SAFE: (
            "baru selesai lari pagi",
            "resep ini enak banget",
            "siapa yang nonton bola malam ini",
            "video baru soal liburan hemat sudah tayang",
            "kucingku nggak mau turun dari keyboard",
            "macet parah di pusat kota hari ini",
            "selamat ulang tahun adikku",
            "belajar bareng teman di perpustakaan",
            "sunset di pantai keren banget",
            "ada rekomendasi hp murah yang bagus",
        ),
        "child_safety": (
            "tukar foto [REDACTED] anak di bawah umur, grup privat",
            "cari konten anak kecil, dm aja",
            "jual video [REDACTED] anak-anak, link di bio",
        ),
        "human_trafficking": (
            "kerja di luar negeri untuk cewek, paspor dipegang agen",
            "kami seberangkan orang lewat perbatasan, tunai saja",
            "pekerja tanpa dokumen tersedia, transport termasuk",
        ),
        "violent_extremism": (
            "bergabunglah dengan pejuang [GROUP], kemuliaan bagi syuhada",
            "serangan itu benar, akan ada lagi",
            "rekrut saudara untuk perjuangan, kamp latihan dibuka",
        ),
        "graphic_violence": (
            "video kecelakaan tanpa sensor, darah di mana-mana",
            "lihat dia dipukuli sampai tidak bergerak",
            "klip penembakan lengkap tanpa blur",
        ),
        "hate_speech": (
            "[GROUP] itu hama, usir mereka semua",
            "semua [GROUP] itu kriminal dari lahir",
            "di sini tidak boleh ada [GROUP], mereka merusak semuanya",
        ),
        "harassment": (
            "kamu jelek banget, nggak ada yang mau sama kamu",
            "ayo serbu kolom komentarnya sampai dia keluar",
            "mati aja lo pecundang, nggak ada yang mau lo di sini",
        ),
        "drugs": (
            "jual ganja dan pil, pengiriman aman",
            "ada sabu buat weekend, dm",
            "obat murah tanpa resep, tanya menu via dm",
        ),
        "gambling": (
            "slot gacor hari ini, bonus new member 200%",
            "judi bola pasti menang, gabung grup taruhan",
            "depo 10 rb dapat 50 rb, maxwin tiap malam",
        ),
        "scam_fraud": (
            "profit pasti 30% per hari, kirim USDT",
            "selamat kamu menang iPhone, bayar ongkir dulu",
            "kerja dari rumah gaji 500 rb sehari, bayar biaya admin dulu",
        ),
        "spam": (
            "follow back dijamin, followers gratis",
            "klik link buat voucher gratis",
            "like dan view murah, 1000 cuma 10 rb",
        ),
    },
    "th": {
        SAFE: (
            "เพิ่งวิ่งตอนเช้าเสร็จ",
            "สูตรนี้อร่อยมาก",
            "ใครดูบอลคืนนี้บ้าง",
            "คลิปใหม่เรื่องเที่ยวประหยัดมาแล้ว",
            "แมวไม่ยอมลงจากคีย์บอร์ด",
            "รถติดมากในเมืองวันนี้",
            "สุขสันต์วันเกิดน้องสาว",
            "อ่านหนังสือที่ห้องสมุดกับเพื่อน",
            "พระอาทิตย์ตกที่ทะเลสวยมาก",
            "มีมือถือราคาถูกดีๆ แนะนำไหม",
        ),
        "child_safety": (
            "แลกรูป [REDACTED] ของเด็ก กลุ่มลับ",
            "หาคอนเทนต์เด็กเล็ก ทักแชท",
            "ขายคลิป [REDACTED] เด็ก ลิงก์ในไบโอ",
        ),
        "human_trafficking": (
            "งานต่างประเทศสำหรับสาวๆ เอเจนซี่เก็บพาสปอร์ต",
            "พาคนข้ามชายแดน เงินสดเท่านั้น",
            "มีแรงงานไม่มีเอกสาร รวมค่าขนส่ง",
        ),
        "violent_extremism": (
            "เข้าร่วมนักรบ [GROUP] เกียรติแด่ผู้พลีชีพ",
            "การโจมตีนั้นถูกต้อง จะมีอีก",
            "รับสมัครพี่น้องเพื่ออุดมการณ์ ค่ายฝึกเปิดแล้ว",
        ),
        "graphic_violence": (
            "คลิปอุบัติเหตุไม่เซ็นเซอร์ เลือดเต็มไปหมด",
            "ดูเขาโดนทุบจนไม่ขยับ",
            "คลิปยิงกันเต็มๆ ไม่เบลอ",
        ),
        "hate_speech": (
            "พวก [GROUP] เป็นเชื้อโรค ไล่ออกไปให้หมด",
            "[GROUP] ทุกคนเป็นอาชญากรโดยกำเนิด",
            "ที่นี่ไม่ต้อนรับ [GROUP] พวกมันทำลายทุกอย่าง",
        ),
        "harassment": (
            "หน้าตาแบบนี้ไม่มีใครรักหรอก",
            "ทุกคนไปถล่มคอมเมนต์มันจนกว่าจะเลิกเล่น",
            "ไปตายซะไอ้ขี้แพ้ ไม่มีใครต้องการแก",
        ),
        "drugs": ("ขายกัญชาและยาบ้า ส่งลับ", "มีไอซ์สำหรับเสาร์อาทิตย์ ทักมา", "ยาถูกไม่ต้องมีใบสั่ง ขอเมนูทางแชท"),
        "gambling": (
            "คาสิโนออนไลน์ โบนัส 200% เดิมพันเลย",
            "ทีเด็ดบอลแม่นๆ เข้ากลุ่มพนัน",
            "สล็อตแตกทุกคืน ฝาก 10 รับ 50",
        ),
        "scam_fraud": (
            "กำไรการันตี 30% ต่อวัน โอน USDT",
            "คุณได้รับ iPhone ฟรี จ่ายค่าส่งก่อน",
            "ทำงานที่บ้านได้วันละ 500 จ่ายค่าสมัครก่อน",
        ),
        "spam": ("ฟอลแลกฟอล ผู้ติดตามฟรี", "กดลิงก์รับบัตรของขวัญฟรี", "ไลก์และวิวราคาถูก 1000 แค่ 1 ดอลลาร์"),
    },
    "zh": {
        # The last three use coded words innocently (spinach, skating, leaves): a keyword
        # list that flags them produces false positives.
        SAFE: (
            "刚跑完步，今天状态不错",
            "这个菜谱做出来太好吃了",
            "今晚谁一起看球",
            "新视频上线，聊聊穷游攻略",
            "猫一直趴在键盘上不走",
            "市中心今天堵死了",
            "祝我妹妹生日快乐",
            "和朋友在图书馆自习",
            "海边的日落太美了",
            "求推荐一款便宜好用的手机",
            "今天买了菠菜做汤",
            "周末带孩子去溜冰场玩",
            "秋天的叶子黄了真好看",
        ),
        "child_safety": (
            "交换未成年[REDACTED]图片，私密群",
            "找小孩子的内容，私聊",
            "出售儿童[REDACTED]视频，链接在主页",
        ),
        "human_trafficking": (
            "海外高薪招女工，护照由中介保管",
            "带人偷渡过境，只收现金",
            "无证劳工随时到岗，包运输",
        ),
        "violent_extremism": (
            "加入[GROUP]战士，荣耀归于烈士",
            "那次袭击是正义的，还会有更多",
            "为事业招募兄弟，训练营开放",
        ),
        "graphic_violence": (
            "车祸无码视频，到处都是血",
            "看他被打到一动不动",
            "枪击现场完整视频，没打码",
        ),
        "hate_speech": (
            "[GROUP]都是害虫，全部赶出去",
            "[GROUP]天生就是罪犯",
            "这里不欢迎[GROUP]，他们毁了一切",
        ),
        "harassment": (
            "你长这么丑没人会喜欢你",
            "大家一起去刷她评论，直到她退网",
            "废物去死吧，没人想看到你",
        ),
        "drugs": (
            "出售大麻和冰毒，隐秘发货",
            "周末有货，K粉摇头丸都有",
            "无处方便宜药，私信要菜单",
        ),
        "gambling": (
            "网上博彩200%首充优惠，马上下注",
            "足球赌球稳赢，加入投注群",
            "老虎机每晚爆奖，充10送50",
        ),
        "scam_fraud": (
            "每天稳赚30%，转USDT即可开始",
            "恭喜你中了iPhone，先付运费领取",
            "在家兼职日赚500，先交手续费",
        ),
        "spam": ("互粉互赞，免费涨粉", "点链接领免费礼品卡", "便宜点赞播放量，1000个只要1块"),
    },
}

# Mandarin templates where the explicit risk word is replaced by a coded / homophone term.
CODED_TEMPLATES_ZH: dict[str, tuple[str, ...]] = {
    "gambling": (
        "{term}平台稳赚不赔，私聊带你",
        "想玩{term}的兄弟看主页",
        "今晚{term}推荐，跟单必红",
    ),
    "drugs": ("{term}有货，同城闪送", "要{term}的老铁私我", "周末一起{term}吗，货很纯"),
    "harassment": ("你就是个{term}，滚远点", "{term}主播别播了", "评论区的{term}们闭嘴"),
    "scam_fraud": (
        "{term}领取内部名额，日赚500",
        "兼职刷单，{term}详聊",
        "投资带单，{term}: abc888",
    ),
}


def _decor(category: str) -> tuple[str, ...]:
    """Decorations that fit the category: links and phones sell, emoji and caps shout."""
    if category == SAFE:
        return SAFE_DECOR
    return PROMO_DECOR if category in PROMO_CATEGORIES else HOSTILE_DECOR


def _combine(language: str, cores: Iterable[str], category: str) -> list[str]:
    """All opener x core x closer x decoration strings of one pool."""
    parts = product(OPENERS[language], cores, CLOSERS[language], _decor(category))
    return ["".join(p) for p in parts]


def pool(language: str, category: str) -> list[str]:
    """Distinct texts of one language and category (`none` for safe posts)."""
    try:
        cores = PHRASES[language][category]
    except KeyError as exc:
        raise KeyError(f"no sample texts for language={language!r}, category={category!r}") from exc
    return _combine(language, cores, category)


def coded_pool(category: str, terms: Sequence[str]) -> list[str]:
    """Mandarin texts of one category written with the given coded terms."""
    if category not in CODED_TEMPLATES_ZH:
        known = ", ".join(sorted(CODED_TEMPLATES_ZH))
        raise KeyError(f"no coded Mandarin templates for {category!r} (known: {known})")
    cores = [t.format(term=term) for term in terms for t in CODED_TEMPLATES_ZH[category]]
    return _combine("zh", cores, category)
