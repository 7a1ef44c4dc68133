-- Weekly on-call slots (issue 5), beside the absolute ones of rota_slots: "every Monday
-- 08:00-13:00", wall-clock minutes in Europe/Paris (end <= start: the slot ends the next
-- day). A team with any slot, weekly or absolute, has a rota.
CREATE TABLE rota_weekly (
    team_id          TEXT NOT NULL REFERENCES teams (id),
    professional_id  TEXT NOT NULL REFERENCES professionals (id),
    weekday          TEXT NOT NULL CHECK (weekday IN
                        ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday')),
    start_minute     BIGINT NOT NULL CHECK (start_minute >= 0 AND start_minute < 1440),
    end_minute       BIGINT NOT NULL CHECK (end_minute > 0 AND end_minute <= 1440),
    CHECK (start_minute <> end_minute)
);
CREATE INDEX rota_weekly_team ON rota_weekly (team_id, professional_id);
