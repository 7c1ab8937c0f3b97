DROP TABLE refresh_tokens;
DROP TABLE todos;
DROP TABLE users;
