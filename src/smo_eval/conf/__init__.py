"""smo-eval's packaged configuration values (read by Hydra as `pkg://smo_eval.conf`)."""
