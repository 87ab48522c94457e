//! The sections of the post, defined once: a claim file's `section` and `also_in` must name one of
//! them, and the post's template numbers and titles its headings from this list.

use serde::Serialize;

/// One section of the post.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Section {
    /// Its number, as claim files write it ("2.1").
    pub number: &'static str,
    /// Its heading.
    pub title: &'static str,
    /// The heading's in-page anchor.
    pub anchor: &'static str,
}

/// The sections that can hold evidence boxes, in the order of the post.
pub const SECTIONS: [Section; 10] = [
    Section {
        number: "1.1",
        title: "The noisy update",
        anchor: "the-noisy-update",
    },
    Section {
        number: "1.2",
        title: "Sources of noise",
        anchor: "sources-of-noise",
    },
    Section {
        number: "2.1",
        title: "Escape from minima and saddles",
        anchor: "escape",
    },
    Section {
        number: "2.2",
        title: "The bias towards flat minima",
        anchor: "flat-minima",
    },
    Section {
        number: "2.3",
        title: "Gradient diversity",
        anchor: "gradient-diversity",
    },
    Section {
        number: "3.1",
        title: "Minibatch size as a control",
        anchor: "minibatch-size",
    },
    Section {
        number: "3.2",
        title: "Injected noise",
        anchor: "injected-noise",
    },
    Section {
        number: "4.1",
        title: "The trade-off and the rates",
        anchor: "rates",
    },
    Section {
        number: "4.2",
        title: "Phases of training",
        anchor: "phases",
    },
    Section {
        number: "5",
        title: "Towards soft inductive biases",
        anchor: "soft-inductive-biases",
    },
];

/// The section numbered `number`.
pub fn section(number: &str) -> Option<&'static Section> {
    SECTIONS.iter().find(|s| s.number == number)
}

/// The section numbers, for messages.
pub fn numbers() -> String {
    SECTIONS
        .iter()
        .map(|s| s.number)
        .collect::<Vec<_>>()
        .join(", ")
}
