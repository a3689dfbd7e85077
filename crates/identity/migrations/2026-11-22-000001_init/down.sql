DROP TABLE mail_queue;
DROP TABLE login_throttle;
DROP TABLE one_time_tokens;
DROP TABLE sessions;
DROP TABLE users;
