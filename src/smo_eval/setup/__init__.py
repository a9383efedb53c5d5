"""Setting a team up: inspect its files and write the one config file every command reads
(`smo-eval init`), import its risk taxonomy (`smo-eval taxonomy import`)."""
