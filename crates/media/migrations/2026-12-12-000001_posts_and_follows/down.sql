DROP TABLE follows;
DROP TABLE posts;
