//! `defmt::Format` for the public types whose modules stay free of it (feature `defmt`). The
//! others derive it where they are defined.

use crate::placement::PlaceError;
use crate::state::State;

impl defmt::Format for State {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str());
    }
}

impl defmt::Format for PlaceError {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            PlaceError::TooSmall { need } => {
                defmt::write!(f, "TooSmall {{ need: {=usize} }}", need)
            }
            PlaceError::Misaligned { align } => {
                defmt::write!(f, "Misaligned {{ align: {=usize} }}", align)
            }
        }
    }
}

// Every public value type the crate docs list under the `defmt` feature implements `Format`
// (checked at compile time, in every build with the feature).
const _: () = {
    const fn format<T: defmt::Format + ?Sized>() {}
    format::<State>();
    format::<PlaceError>();
    format::<crate::Outcome>();
    format::<crate::Reason>();
    format::<crate::Transition>();
    format::<crate::PermitKind>();
    format::<crate::RawPermit>();
    format::<crate::Permit>();
    format::<crate::Rejected>();
    format::<crate::RecordError>();
    format::<crate::Metrics>();
    format::<crate::ConfigError>();
};
