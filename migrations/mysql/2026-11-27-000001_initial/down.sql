DROP TABLE app_config;
DROP TABLE service_leases;
DROP TABLE event_queue;
DROP TABLE service_event_configs;
DROP TABLE services;
DROP TABLE live_events;
DROP TABLE live_sessions;
