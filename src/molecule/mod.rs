//! Protomolecule -> molecule: pour, wisp, bond, squash, burn, current.
