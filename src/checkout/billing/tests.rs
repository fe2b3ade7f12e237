//! Tests for `billing`: every parser's accepted and refused shapes, and the wire mapping.

use super::*;

#[test]
fn countries_map_to_appendix_ids() {
    let cases = [
        ("US", 840),
        ("ca", 124),
        ("AU", 36),
        (" MX ", 484),
        ("NZ", 554),
    ];
    for (code, id) in cases {
        let c = Country::parse(code).expect(code);
        assert_eq!(c.upstream_id(), id, "{code}");
        assert_eq!(c.to_wire(), wire::CountryRef { id });
    }
    let err = Country::parse("GB").unwrap_err();
    assert_eq!(err, FieldError::UnsupportedCountry);
    assert!(err.to_string().contains("US, CA, AU, MX, NZ"));
    assert!(Country::parse("USA").is_err());
    assert!(Country::parse("").is_err());
}

#[test]
fn regions_are_normalised_and_checked() {
    let us = Country::UnitedStates;
    let r = Region::parse("ca", us).expect("California");
    assert_eq!(r.as_str(), "CA");
    assert_eq!(r.state_id(), Some(12));
    assert_eq!(r.to_wire().abbrev, "CA");
    assert_eq!(
        Region::parse(" pr ", us).expect("Puerto Rico").state_id(),
        Some(52)
    );
    assert_eq!(
        Region::parse("ZZ", us).unwrap_err(),
        FieldError::UnknownRegion { country: "US" }
    );
    // A Canadian province is not a US region, and the other way round.
    assert!(Region::parse("ON", us).is_err());
    assert!(Region::parse("NY", Country::Canada).is_err());
    let qc = Region::parse("QC", Country::Canada).expect("Quebec");
    assert_eq!(qc.state_id(), Some(76));
    // Countries without a list: shape only.
    let nsw = Region::parse("nsw", Country::Australia).expect("NSW");
    assert_eq!(nsw.as_str(), "NSW");
    assert_eq!(nsw.state_id(), None);
    for bad in ["", "C", "CALI", "C1", "É1", "N.Y"] {
        assert_eq!(
            Region::parse(bad, Country::Mexico).unwrap_err(),
            FieldError::BadRegion,
            "{bad}"
        );
    }
}

#[test]
fn region_tables_match_appendix_size() {
    // 62 US states/territories/military + 13 Canadian provinces/territories.
    assert_eq!(US_REGIONS.len(), 62);
    assert_eq!(CA_REGIONS.len(), 13);
    let mut all: Vec<&str> = US_REGIONS
        .iter()
        .chain(CA_REGIONS)
        .map(|(a, _)| *a)
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 75, "abbreviations are unique");
}

#[test]
fn emails() {
    assert_eq!(
        Email::parse(" john.doe@ticketmaster.com ")
            .expect("docs example")
            .as_str(),
        "john.doe@ticketmaster.com"
    );
    for bad in [
        "",
        "john",
        "john@",
        "@example.com",
        "john@example",
        "john@@example.com",
        "a@b@example.com",
        "john doe@example.com",
        "john@.example.com",
        "john@example.com.",
        "john@example..com",
    ] {
        assert!(Email::parse(bad).is_err(), "{bad:?}");
    }
    let long = format!("{}@example.com", "a".repeat(250));
    assert_eq!(
        Email::parse(&long).unwrap_err(),
        FieldError::TooLong { max: 254 }
    );
}

#[test]
fn phones() {
    for ok in [
        "212-867-5309",
        "+1 (212) 867-5309",
        "8675309",
        "+61 2 9999 9999",
    ] {
        assert_eq!(Phone::parse(ok).expect(ok).as_str(), ok);
    }
    for bad in [
        "",
        "867-530",
        "12345678901234567890123",
        "212.867.5309",
        "call me",
    ] {
        assert!(Phone::parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        Phone::parse("(--) ++ 12345").unwrap_err(),
        FieldError::BadPhone
    );
}

#[test]
fn postal_codes() {
    for ok in ["90210", "90210-1234", "K1A 0B1", "2000", "0"] {
        assert_eq!(PostalCode::parse(ok).expect(ok).as_str(), ok);
    }
    assert_eq!(PostalCode::parse(" ").unwrap_err(), FieldError::Empty);
    assert_eq!(
        PostalCode::parse("1234567890123").unwrap_err(),
        FieldError::BadPostalCode
    );
    assert_eq!(
        PostalCode::parse("902_10").unwrap_err(),
        FieldError::BadPostalCode
    );
}

#[test]
fn non_empty_text() {
    assert_eq!(NonEmpty::parse("  John ").expect("name").as_str(), "John");
    assert_eq!(NonEmpty::parse("   ").unwrap_err(), FieldError::Empty);
    assert_eq!(
        NonEmpty::parse("line\u{0}break").unwrap_err(),
        FieldError::ControlCharacters
    );
    assert_eq!(
        NonEmpty::parse("a\nb").unwrap_err(),
        FieldError::ControlCharacters
    );
    // 100 multi-byte characters are fine: the limit is in characters, not bytes.
    assert!(NonEmpty::parse(&"é".repeat(100)).is_ok());
    assert_eq!(
        NonEmpty::parse(&"x".repeat(101)).unwrap_err(),
        FieldError::TooLong { max: 100 }
    );
    assert_eq!(NonEmpty::parse_optional(None), Ok(None));
    assert_eq!(NonEmpty::parse_optional(Some("  ")), Ok(None));
    assert!(
        NonEmpty::parse_optional(Some("1h"))
            .expect("unit")
            .is_some()
    );
}

#[test]
fn field_path_is_attached_by_caller() {
    let err = Region::parse("ZZ", Country::UnitedStates)
        .map_err(|e| e.at("billing.address.region"))
        .unwrap_err();
    assert_eq!(err.field, "billing.address.region");
    assert_eq!(
        err.to_string(),
        "billing.address.region: is not a state, territory or province of US"
    );
}

#[test]
fn address_to_wire() {
    let parse = |s: &str| NonEmpty::parse(s).expect(s);
    let address = BillingAddress {
        line1: parse("123 Main Street"),
        line2: None,
        unit: Some(parse("1h")),
        city: parse("Los Angeles"),
        region: Region::parse("CA", Country::UnitedStates).expect("CA"),
        postal_code: PostalCode::parse("90210").expect("zip"),
        country: Country::UnitedStates,
    };
    let wire = address.to_wire();
    assert_eq!(wire.line2, "");
    assert_eq!(wire.unit.as_deref(), Some("1h"));
    assert_eq!(wire.country.id, 840);
    assert_eq!(wire.region.abbrev, "CA");
    assert_eq!(wire.postal_code, "90210");
}

#[test]
fn free_text_refuses_a_card_number_however_it_is_written() {
    for text in [
        "4111111111111111",
        "John 4111 1111 1111 1111",
        "cvv 123 4111-1111-1111-1111",
    ] {
        assert_eq!(NonEmpty::parse(text), Err(FieldError::CardNumber), "{text}");
    }
    // Numbers that are not card numbers stay: a street number, a suite, a long reference.
    for text in [
        "1600 Pennsylvania Avenue NW",
        "Suite 4111-1111",
        "Ref 1234567890123",
    ] {
        assert!(NonEmpty::parse(text).is_ok(), "{text}");
    }
}
