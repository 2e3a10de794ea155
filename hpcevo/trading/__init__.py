"""Trading workload: typed-GP strategies evolved on market data and scored by vectorized backtests."""
