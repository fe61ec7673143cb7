-- Applied by ferretdb.sh to the `ferretdb` database of the stack's PostgreSQL (FerretDB's
-- backend) every time the stack starts; idempotent.
--
-- FerretDB v1.24 pushes an `_id` equality down as `_jsonb->'_id' @> $1`, but the
-- index it creates for _id is a btree on `_jsonb->'_id'`, which cannot serve `@>`.
-- So every find/update/delete by _id scans the whole collection: ~20 ms per upsert at
-- 20k documents, growing linearly. MongoDB itself always has an _id index, so the
-- stand-in gets one it can use: a GIN index (no pending list, so lookups stay O(log n)
-- right after a bulk insert) on every collection table FerretDB creates.
CREATE OR REPLACE FUNCTION sluice_stack_id_gin() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS rel
             FROM pg_event_trigger_ddl_commands() d
             JOIN pg_class c ON c.oid = d.objid
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = '_jsonb'
            WHERE d.command_tag = 'CREATE TABLE' AND d.object_type = 'table'
              AND c.relname <> '_ferretdb_database_metadata'
  LOOP
    EXECUTE format('CREATE INDEX ON %s USING gin ((_jsonb->''_id'') jsonb_path_ops) WITH (fastupdate = off)', r.rel);
  END LOOP;
END $$;
DROP EVENT TRIGGER IF EXISTS sluice_stack_id_gin;
CREATE EVENT TRIGGER sluice_stack_id_gin ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
  EXECUTE FUNCTION sluice_stack_id_gin();
