"""A team's own files, as a new team brings them: its own column names, its own categories,
no region, a GBK gold file with Chinese headers and values, 5% of gold unscored by any model,
and one model that exports hard 0/1 decisions instead of scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CATEGORIES = {"武器": 0.25, "赌博": 0.35, "诈骗": 0.4}
CHANNELS = {"直播": 0.3, "评论": 0.5, "私信": 0.2}
PHRASES = {"武器": "出售仿真枪支配件", "赌博": "加我带你上岸稳赚不赔", "诈骗": "点击链接领取补贴",
           "正常": "今天天气不错一起去公园"}


def write_team_files(folder: Path, n: int = 6000, seed: int = 3) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    ids = [f"C{i:06d}" for i in range(n)]
    violating = rng.random(n) < 0.15
    category = np.where(violating, rng.choice(list(CATEGORIES), n, p=list(CATEGORIES.values())),
                        "正常")
    channel = rng.choice(list(CHANNELS), n, p=list(CHANNELS.values()))
    language = rng.choice(["中文", "英文"], n, p=[0.8, 0.2])
    text = [f"{PHRASES[c]}，编号{i}" for i, c in enumerate(category)]
    gold = pd.DataFrame({"内容ID": ids, "是否违规": np.where(violating, "违规", "正常"),
                         "违规类型": category, "渠道": channel, "语言": language, "文本": text})
    gold_path = folder / "金标_2026-11.csv"
    gold.to_csv(gold_path, index=False, encoding="gbk")
    scored = rng.random(n) >= 0.05                       # 5% of gold: no model scored it
    rows = []
    for system, strength in (("prod-2026-10", 1.6), ("cand-2026-11", 2.0)):
        logit = np.where(violating, strength, -strength) + rng.normal(0, 1.1, n)
        logit = np.where((channel == "私信") & violating, logit - 1.5, logit)
        rows.append(pd.DataFrame({"content_id": ids, "system": system,
                                  "prob": np.round(1 / (1 + np.exp(-logit)), 4)})[scored])
    rules = (violating & (rng.random(n) < 0.6)) | (~violating & (rng.random(n) < 0.03))
    rows.append(pd.DataFrame({"content_id": ids, "system": "rules-engine",
                              "prob": rules.astype(int)})[scored])
    preds_path = folder / "model_scores.csv"
    pd.concat(rows, ignore_index=True).to_csv(preds_path, index=False)
    return {"gold": gold_path, "predictions": preds_path}
