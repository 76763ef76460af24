SELECT day, SUM(fee_usd) AS fees_usd
FROM dune.acme.mv_dex_trades_daily
GROUP BY 1
