-- Writers publish blog posts through the post service: a third role an account can sign up with.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('consumer', 'seller', 'writer'));

---- create above / drop below ----

ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('consumer', 'seller'));
