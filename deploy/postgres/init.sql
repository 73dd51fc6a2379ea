-- Run once by the postgres image on an empty data directory (docker-entrypoint-initdb.d).
-- Each Moa service that keeps state in PostgreSQL gets its own role and its own database,
-- owned by that role, which no other role may connect to: a service cannot read another's
-- tables even by mistake. Passwords come from the container's environment (psql's \getenv),
-- as docker-compose.yml passes them; a missing one fails the init.
--
-- deploy/deploy_test.go runs this file with psql against a throwaway server.

\set ON_ERROR_STOP on

\getenv auth_password MOA_AUTH_DB_PASSWORD
\if :{?auth_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'MOA_AUTH_DB_PASSWORD is not set'; END $$;
\endif
\getenv catalog_password MOA_CATALOG_DB_PASSWORD
\if :{?catalog_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'MOA_CATALOG_DB_PASSWORD is not set'; END $$;
\endif
\getenv billing_password MOA_BILLING_DB_PASSWORD
\if :{?billing_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'MOA_BILLING_DB_PASSWORD is not set'; END $$;
\endif
\getenv notify_password MOA_NOTIFY_DB_PASSWORD
\if :{?notify_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'MOA_NOTIFY_DB_PASSWORD is not set'; END $$;
\endif
\getenv subscription_password MOA_SUBSCRIPTION_DB_PASSWORD
\if :{?subscription_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'MOA_SUBSCRIPTION_DB_PASSWORD is not set'; END $$;
\endif

CREATE ROLE moa_auth LOGIN PASSWORD :'auth_password';
CREATE DATABASE moa_auth OWNER moa_auth;
REVOKE ALL ON DATABASE moa_auth FROM PUBLIC;

CREATE ROLE moa_billing LOGIN PASSWORD :'billing_password';
CREATE DATABASE moa_billing OWNER moa_billing;
REVOKE ALL ON DATABASE moa_billing FROM PUBLIC;

CREATE ROLE moa_catalog LOGIN PASSWORD :'catalog_password';
CREATE DATABASE moa_catalog OWNER moa_catalog;
REVOKE ALL ON DATABASE moa_catalog FROM PUBLIC;

CREATE ROLE moa_notify LOGIN PASSWORD :'notify_password';
CREATE DATABASE moa_notify OWNER moa_notify;
REVOKE ALL ON DATABASE moa_notify FROM PUBLIC;

CREATE ROLE moa_subscription LOGIN PASSWORD :'subscription_password';
CREATE DATABASE moa_subscription OWNER moa_subscription;
REVOKE ALL ON DATABASE moa_subscription FROM PUBLIC;
