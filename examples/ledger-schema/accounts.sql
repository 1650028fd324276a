-- The ledger's accounts database (Aurora PostgreSQL), as its migrations create it.
CREATE TABLE public.accounts (
    account_id   bigint PRIMARY KEY,
    owner_email  varchar(320) NOT NULL,
    currency     char(3) NOT NULL,
    balance      numeric(14,2),
    frozen       boolean NOT NULL DEFAULT false,
    profile      jsonb,
    updated_at   timestamptz(6) NOT NULL
);

CREATE TABLE public.transfers (
    transfer_id  bigint NOT NULL,
    from_account bigint NOT NULL,
    to_account   bigint NOT NULL,
    amount       numeric(14,2) NOT NULL,
    memo         text,
    booked_at    timestamp(6) NOT NULL,
    CONSTRAINT transfers_pkey PRIMARY KEY (transfer_id)
);

CREATE INDEX transfers_by_from ON public.transfers (from_account, booked_at);
