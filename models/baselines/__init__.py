"""The classical baselines every Bayesian model is compared against, in one home.

* :mod:`.btyd`: lifetimes' MLE of BG/NBD and MBG/NBD, and an RFM rule (Poisson at the
  calibration repeat rate);
* :mod:`.spend`: OLS, log-OLS and two-part gradient boosting, as predictive draws;
* :mod:`.propensity`: scikit-learn's logistic regression and gradient boosting;
* :mod:`.tickets`: seasonal naive, trailing mean, a negative-binomial GLM and Poisson boosting.
"""
