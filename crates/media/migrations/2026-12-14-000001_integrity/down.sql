DROP TABLE integrity_checks;
