DROP TABLE email_verification_codes;
ALTER TABLE users DROP COLUMN email_verified_at;
