DROP TABLE service_streamers;
