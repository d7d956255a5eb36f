"""The VampPrior paper's benchmark (Tomczak & Welling, AISTATS 2018): models and protocol."""
