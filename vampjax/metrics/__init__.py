"""Evaluation metrics: active units, LPIPS, MSE/PSNR/SSIM, importance-sampled likelihood.

`evaluate.py` runs them all over a test split; each module here is a pure function of
arrays (or of log-density functions), so each can be tested on its own.
"""
