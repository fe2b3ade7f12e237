//! Tests for `card`: parsing, brands, redaction, and serde input that never echoes a card.

use super::*;

const TEST_CARD: &str = "4588883206000011";

#[test]
fn docs_test_card_parses() {
    let n = CardNumber::parse(TEST_CARD).expect("docs test card");
    assert_eq!(n.last4(), "0011");
    assert_eq!(n.brand(), CardBrand::Visa);
    assert_eq!(n.expose_digits(), TEST_CARD);
}

#[test]
fn separators_are_stripped() {
    let n = CardNumber::parse(" 4588-8832 0600 0011 ").expect("grouped");
    assert_eq!(n.expose_digits(), TEST_CARD);
    let n = CardNumber::parse("4000 0000 0000 0002").expect("grouped");
    assert_eq!(n.expose_digits(), "4000000000000002");
    assert_eq!(n.last4(), "0002");
}

#[test]
fn bad_luhn_is_refused() {
    assert_eq!(
        CardNumber::parse("4588883206000012").unwrap_err(),
        CardError::BadChecksum
    );
    assert_eq!(
        CardNumber::parse("4000000000000001").unwrap_err(),
        CardError::BadChecksum
    );
}

#[test]
fn letters_and_bad_lengths_are_refused() {
    assert_eq!(
        CardNumber::parse("4588a83206000011").unwrap_err(),
        CardError::NotDigits
    );
    assert_eq!(
        CardNumber::parse("4588.8832.0600.0011").unwrap_err(),
        CardError::NotDigits
    );
    // Full-width digits are not ASCII digits.
    assert_eq!(
        CardNumber::parse("４５８８").unwrap_err(),
        CardError::NotDigits
    );
    assert!(matches!(
        CardNumber::parse("").unwrap_err(),
        CardError::BadLength { .. }
    ));
    // 11 digits, Luhn-valid ("00000000000") but too short.
    assert!(matches!(
        CardNumber::parse("00000000000").unwrap_err(),
        CardError::BadLength { .. }
    ));
    assert!(matches!(
        CardNumber::parse("40000000000000000000").unwrap_err(),
        CardError::BadLength { .. }
    ));
}

#[test]
fn debug_shows_only_last4() {
    let n = CardNumber::parse(TEST_CARD).expect("valid");
    let dbg = format!("{n:?}");
    assert_eq!(dbg, "CardNumber(****0011)");
    let digits: String = dbg.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(digits, "0011");
    let cvv = Cvv::parse("123").expect("valid");
    assert_eq!(format!("{cvv:?}"), "Cvv(***)");
}

#[test]
fn errors_never_quote_input() {
    for bad in ["4588883206000012", "4588x83206000011", "45888"] {
        let Err(e) = CardNumber::parse(bad) else {
            panic!("should fail")
        };
        let msg = e.to_string();
        assert!(!msg.contains("4588"), "{msg}");
    }
}

#[test]
fn brands_by_prefix() {
    let cases = [
        ("4111111111111111", CardBrand::Visa),
        ("5555555555554444", CardBrand::Mastercard),
        ("2221000000000009", CardBrand::Mastercard),
        ("2720990000000007", CardBrand::Mastercard),
        ("378282246310005", CardBrand::Amex),
        ("371449635398431", CardBrand::Amex),
        ("6011111111111117", CardBrand::Discover),
        ("6500000000000002", CardBrand::Discover),
        ("6445644564456445", CardBrand::Discover),
        ("3530111333300000", CardBrand::Jcb),
        ("30569309025904", CardBrand::Diners),
        ("38520000023237", CardBrand::Diners),
        ("36227206271667", CardBrand::Diners),
        ("9999999999999995", CardBrand::Unknown),
    ];
    for (number, brand) in cases {
        let n = CardNumber::parse(number).unwrap_or_else(|e| panic!("{number}: {e}"));
        assert_eq!(n.brand(), brand, "{number}");
    }
}

#[test]
fn brand_serialises_lowercase() {
    assert_eq!(
        serde_json::to_string(&CardBrand::Mastercard).expect("serialise"),
        "\"mastercard\""
    );
    assert_eq!(CardBrand::Amex.to_string(), "amex");
}

#[test]
fn cvv_rules() {
    assert_eq!(Cvv::parse("123").expect("3 digits").expose_digits(), "123");
    assert_eq!(
        Cvv::parse(" 1234 ").expect("4 digits").expose_digits(),
        "1234"
    );
    assert!(matches!(
        Cvv::parse("12").unwrap_err(),
        CardError::BadLength { .. }
    ));
    assert!(matches!(
        Cvv::parse("12345").unwrap_err(),
        CardError::BadLength { .. }
    ));
    assert_eq!(Cvv::parse("12a").unwrap_err(), CardError::NotDigits);
    assert_eq!(Cvv::parse("1 23").unwrap_err(), CardError::NotDigits);
}

#[derive(Debug, Deserialize)]
struct CardDto {
    number: CardNumber,
    cvv: Cvv,
    expire_month: ExpiryMonth,
    expire_year: ExpiryYear,
}

#[test]
fn deserialises_straight_into_newtypes() {
    let json =
        r#"{"number":"4588 8832 0600 0011","cvv":"123","expire_month":12,"expire_year":2020}"#;
    let card: CardDto = serde_json::from_str(json).expect("valid card");
    assert_eq!(card.number.last4(), "0011");
    assert_eq!(card.cvv.expose_digits(), "123");
    assert_eq!(card.expire_month.get(), 12);
    assert_eq!(card.expire_year.get(), 2020);
    // Escaped strings take serde's owned path and still parse.
    let escaped = r#"{"number":"4588\u00208832\u00200600\u00200011","cvv":"123","expire_month":1,"expire_year":2030}"#;
    let card: CardDto = serde_json::from_str(escaped).expect("escaped");
    assert_eq!(card.number.expose_digits(), TEST_CARD);
}

#[test]
fn deserialise_errors_never_quote_the_card() {
    let cases = [
        r#"{"number":4588883206000011,"cvv":"123","expire_month":12,"expire_year":2020}"#,
        r#"{"number":4588883206000011.0,"cvv":"123","expire_month":12,"expire_year":2020}"#,
        r#"{"number":"4588883206000012","cvv":"123","expire_month":12,"expire_year":2020}"#,
        r#"{"number":"4588883206000011","cvv":987,"expire_month":12,"expire_year":2020}"#,
        r#"{"number":"4588883206000011","cvv":"98a","expire_month":12,"expire_year":2020}"#,
        r#"{"number":45888832060000114588883206000011,"cvv":"123","expire_month":12,"expire_year":2020}"#,
        r#"{"number":["4588883206000011"],"cvv":"123","expire_month":12,"expire_year":2020}"#,
    ];
    for json in cases {
        let err = serde_json::from_str::<CardDto>(json)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("458888"), "{err}");
        assert!(!err.contains("987") && !err.contains("98a"), "{err}");
    }
    let err = serde_json::from_str::<CardDto>(cases[0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("must be a string of digits"), "{err}");
    let month = r#"{"number":"4588883206000011","cvv":"123","expire_month":13,"expire_year":2020}"#;
    let err = serde_json::from_str::<CardDto>(month)
        .unwrap_err()
        .to_string();
    assert!(err.contains("month from 1 to 12"), "{err}");
}

#[test]
fn expiry_rules() {
    assert_eq!(ExpiryMonth::new(12).expect("dec").get(), 12);
    assert_eq!(ExpiryMonth::new(1).expect("jan").get(), 1);
    assert_eq!(ExpiryMonth::new(0).unwrap_err(), CardError::BadMonth);
    assert_eq!(ExpiryMonth::new(13).unwrap_err(), CardError::BadMonth);
    // The docs' sandbox card expired 12/2020 and must still be accepted.
    assert_eq!(ExpiryYear::new(2020).expect("past year").get(), 2020);
    assert_eq!(ExpiryYear::new(2099).expect("edge").get(), 2099);
    assert_eq!(ExpiryYear::new(20).unwrap_err(), CardError::BadYear);
    assert_eq!(ExpiryYear::new(2100).unwrap_err(), CardError::BadYear);
    assert_eq!(ExpiryYear::try_from(1999).unwrap_err(), CardError::BadYear);
}

#[test]
fn a_card_number_written_in_groups_is_found() {
    for text in [
        "/v1/events/4588-8832-0600-0011",
        "id 4588 8832 0600 0011 here",
        "x1-4111-1111-1111-1111",
        "4111111111111111",
        "/v1/events/4588%208832%200600%200011",
        "card_number=4012+8888+8888+1881&cvv=987",
    ] {
        assert!(contains_grouped_card_number(text), "{text}");
    }
    for text in [
        "2026-12-05 13:33:02",
        "4588-8832-0600-0012",
        "chk_01a2464c63cd41f5",
        "4588  8832 0600 0011",
        "",
    ] {
        assert!(!contains_grouped_card_number(text), "{text}");
    }
}
