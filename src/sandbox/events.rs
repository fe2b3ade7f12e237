//! The sandbox's fixed events (data only): the docs' Seattle event, the FAQ's test event, a
//! non-transactable event and the docs' example-flow event that sells out after two seats.

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::catalog::{
    EventDef, NOT_TRANSACTABLE_EVENT, SEATTLE_EVENT, SeatLayout, TEST_EVENT, TINY_EVENT, TicketDef,
    VenueDef,
};
use crate::upstream::wire;

fn quantities(exact: u32, limit: u32, minimum: u32, multiple: u32) -> wire::TicketQuantities {
    wire::TicketQuantities {
        exact,
        limit,
        minimum,
        multiple,
    }
}

/// `days` from `now`, at `local` wall time in `tz`, as UTC. Falls back to UTC wall time on the
/// (never hit for these fixed times) DST gap.
fn local_start(now: DateTime<Utc>, days: u64, local: NaiveTime, tz: Tz) -> DateTime<Utc> {
    let date = now.date_naive() + Days::new(days);
    let naive = date.and_time(local);
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
}

/// All events, dated relative to `now` so they are in the future when the sandbox starts.
pub fn fixed(now: DateTime<Utc>) -> Vec<EventDef> {
    let evening = NaiveTime::from_hms_opt(19, 30, 0).unwrap_or_default();
    let la = chrono_tz::America::Los_Angeles;
    let ny = chrono_tz::America::New_York;
    let chicago = chrono_tz::America::Chicago;
    let denver = chrono_tz::America::Denver;
    vec![
        EventDef {
            id: SEATTLE_EVENT,
            name: "Seattle Sounders FC vs. San Jose Earthquakes",
            transactable: true,
            starts_at: local_start(now, 30, evening, la),
            venue: VenueDef {
                id: 516191,
                name: "CenturyLink Field",
                city: "Seattle",
                region: "WA",
                tz: la,
            },
            tickets: vec![TicketDef {
                id: "000002040006",
                description: "GPAS1",
                price_id: 0,
                face_cents: 2500,
                service_cents: 0,
                facility_cents: 0,
                distance_cents: 0,
                quantities: quantities(0, 10, 1, 1),
            }],
            event_limit: 10,
            layout: SeatLayout {
                sections: vec!["CLB230", "CLB231", "CLB232", "CLB233", "CLB234"],
                rows: vec!["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"],
                seats_per_row: 10,
            },
            artists: vec![
                (916285, "Seattle Sounders FC"),
                (806017, "San Jose Earthquakes"),
            ],
        },
        EventDef {
            id: TEST_EVENT,
            name: "Partner API Test Event - Do Not Purchase",
            transactable: true,
            starts_at: local_start(now, 10, evening, ny),
            venue: VenueDef {
                id: 7001,
                name: "Madison Square Garden",
                city: "New York",
                region: "NY",
                tz: ny,
            },
            tickets: vec![
                // 50.00 face + 10% service + 2.39 facility = 57.39 (the docs' grand_total).
                TicketDef {
                    id: "000000000001",
                    description: "ADULT",
                    price_id: 1,
                    face_cents: 5000,
                    service_cents: 500,
                    facility_cents: 239,
                    distance_cents: 0,
                    quantities: quantities(0, 8, 1, 1),
                },
                // Sold in pairs only, to exercise the `multiple` rule.
                TicketDef {
                    id: "000000000002",
                    description: "CHILD",
                    price_id: 2,
                    face_cents: 3000,
                    service_cents: 300,
                    facility_cents: 239,
                    distance_cents: 0,
                    quantities: quantities(0, 8, 2, 2),
                },
            ],
            event_limit: 8,
            layout: SeatLayout {
                sections: vec!["101", "102"],
                rows: vec!["A", "B", "C", "D", "E", "F", "G", "H", "J", "K"],
                seats_per_row: 10,
            },
            artists: vec![(1, "Partner API Test Artist")],
        },
        EventDef {
            id: NOT_TRANSACTABLE_EVENT,
            name: "Box Office Only Concert",
            transactable: false,
            starts_at: local_start(now, 20, evening, denver),
            venue: VenueDef {
                id: 7002,
                name: "Red Rocks Amphitheatre",
                city: "Morrison",
                region: "CO",
                tz: denver,
            },
            tickets: vec![TicketDef {
                id: "000000000001",
                description: "GA",
                price_id: 1,
                face_cents: 4000,
                service_cents: 400,
                facility_cents: 0,
                distance_cents: 0,
                quantities: quantities(0, 4, 1, 1),
            }],
            event_limit: 4,
            layout: SeatLayout {
                sections: vec!["GA"],
                rows: vec!["1"],
                seats_per_row: 100,
            },
            artists: vec![(2, "Box Office Band")],
        },
        EventDef {
            id: TINY_EVENT,
            name: "Intimate Acoustic Evening",
            transactable: true,
            starts_at: local_start(now, 5, evening, chicago),
            venue: VenueDef {
                id: 7003,
                name: "The Tiny Room",
                city: "Chicago",
                region: "IL",
                tz: chicago,
            },
            tickets: vec![TicketDef {
                id: "000000000001",
                description: "GA",
                price_id: 5,
                face_cents: 3000,
                service_cents: 300,
                facility_cents: 0,
                distance_cents: 0,
                quantities: quantities(0, 2, 1, 1),
            }],
            event_limit: 2,
            layout: SeatLayout {
                sections: vec!["GA1"],
                rows: vec!["A"],
                seats_per_row: 2,
            },
            artists: vec![(3, "Solo Singer")],
        },
    ]
}
