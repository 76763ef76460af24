SELECT day, token_pair, SUM(amount_usd) AS volume_usd
FROM dune.acme.mv_dex_trades_daily
WHERE day > now() - interval '30' day
GROUP BY 1, 2
ORDER BY 3 DESC
LIMIT 100
