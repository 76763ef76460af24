SELECT day, blockchain, SUM(amount_usd) AS volume_usd
FROM dune.acme.mv_dex_trades_daily
GROUP BY 1, 2
