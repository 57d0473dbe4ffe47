-- The plans a fresh deployment offers. Changing one later is a new migration
-- that bumps its version, so licenses can name the version they came from.
INSERT INTO plans (id, name, version, free, modules, is_default, definition) VALUES
('starter', 'Starter', 1, true, '{}', true, '{
    "limits": {
        "activeUsers": [{"max": 50, "behavior": "prevent_action"}],
        "monthlyActiveContacts": [{"max": 100, "behavior": "prevent_action"}]
    },
    "validDays": 30,
    "statisticsReport": {"required": true},
    "supportPlan": "standard",
    "coverage": "12x5",
    "firstResponseHours": {"high": 24, "medium": 48, "low": 72},
    "autoRenew": true
}'),
('pro', 'Pro', 1, false, '{auditing, canned-responses, ldap-enterprise, livechat-enterprise, engagement-dashboard, push-privacy, message-read-receipt, videoconference-enterprise, custom-roles, hide-watermark, teams-mention, oauth-enterprise, saml-enterprise}', false, '{
    "limits": {
        "activeUsers": [{"max": 500, "behavior": "start_fair_policy"}],
        "monthlyActiveContacts": [{"max": 1000, "behavior": "start_fair_policy"}]
    },
    "termDays": 365,
    "statisticsReport": {"required": true},
    "supportPlan": "standard",
    "coverage": "12x5",
    "firstResponseHours": {"high": 24, "medium": 48, "low": 72},
    "autoRenew": true
}'),
('enterprise', 'Enterprise', 1, false, '{abac, accessibility-certification, auditing, canned-responses, contact-id-verification, custom-roles, device-management, engagement-dashboard, federation, fips, hide-watermark, ldap-enterprise, livechat-enterprise, message-read-receipt, oauth-enterprise, omnichannel-mobile-enterprise, outbound-messaging, outlook-calendar, push-privacy, saml-enterprise, scalability, teams-mention, teams-voip, unlimited-presence, videoconference-enterprise, voip-enterprise}', false, '{
    "limits": {
        "activeUsers": [{"max": 2000, "behavior": "start_fair_policy"}],
        "monthlyActiveContacts": [{"max": 10000, "behavior": "start_fair_policy"}]
    },
    "termDays": 365,
    "statisticsReport": {"required": true},
    "supportPlan": "plus",
    "coverage": "24x7",
    "firstResponseHours": {"high": 4, "medium": 8, "low": 24},
    "autoRenew": true
}');
