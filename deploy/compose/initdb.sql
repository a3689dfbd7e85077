-- Run once by the postgres image when its volume is empty: the services' own databases
-- (POSTGRES_DB already created df_identity).
CREATE DATABASE df_payments;
