DROP TABLE capture_leases;
