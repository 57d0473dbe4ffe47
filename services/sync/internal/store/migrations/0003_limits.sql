-- What over-limit checks compare: the lowest maxima of the license the view
-- holds (read from the license sync stored; NULL when it sets none of that
-- kind) and the usage of the last report. None of these columns is indexed,
-- so the sync hot path that stamps the report stays a HOT update.
ALTER TABLE views
    ADD COLUMN max_active_users            bigint,
    ADD COLUMN max_monthly_active_contacts bigint,
    ADD COLUMN reported_seats              bigint,
    ADD COLUMN reported_mac                bigint;
