SELECT day, volume_usd, fees_usd
FROM query_3493801
JOIN query_3493803 USING (day)
WHERE blockchain = '{{chain}}'
