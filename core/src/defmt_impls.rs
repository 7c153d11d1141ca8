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
