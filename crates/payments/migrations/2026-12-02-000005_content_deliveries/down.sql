DROP TABLE content_deliveries;
