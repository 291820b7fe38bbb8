//! Bond: join two molecules, or a protomolecule onto a molecule.

use super::pour::{load_proto, pour_tx, PourOptions, PourResult};
use super::{MolError, Result};
use crate::store::{issues, DepType, Store};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BondType {
    /// B runs after A (`blocks`).
    Sequential,
    /// B runs beside A, as a child of A (`parent-child`).
    Parallel,
    /// B runs only if A fails (`conditional-blocks`).
    Conditional,
}

impl BondType {
    pub fn dep_type(self) -> DepType {
        match self {
            BondType::Sequential => DepType::Blocks,
            BondType::Parallel => DepType::ParentChild,
            BondType::Conditional => DepType::ConditionalBlocks,
        }
    }

    pub fn parse(s: &str) -> Result<BondType> {
        match s {
            "sequential" => Ok(BondType::Sequential),
            "parallel" => Ok(BondType::Parallel),
            "conditional" => Ok(BondType::Conditional),
            _ => Err(crate::store::StoreError::invalid(
                "bond type",
                s,
                &["sequential", "parallel", "conditional"],
            )
            .into()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BondResult {
    /// The molecule that waits (or is attached).
    pub from: String,
    /// The molecule it is bonded to.
    pub to: String,
    pub bond_type: BondType,
    /// Set when one side was a protomolecule that was poured for the bond.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poured: Option<PourResult>,
}

/// `bond A B`: B is bonded onto A. Each operand is an issue id (a molecule)
/// or a protomolecule reference (a `*.json` file or a formula name). One of
/// them must be a molecule; a protomolecule operand is poured (as a wisp if
/// the molecule is one) and bonded in the same transaction.
pub fn bond(
    store: &mut Store,
    a: &str,
    b: &str,
    bond_type: BondType,
    vars: &BTreeMap<String, String>,
    cwd: &Path,
) -> Result<BondResult> {
    let resolve = |s: &str| issues::resolve(store.conn(), store.prefix(), s).ok();
    let (ra, rb) = (resolve(a), resolve(b));
    match (ra, rb) {
        (Some(a), Some(b)) => {
            let t = bond_type.dep_type();
            store.write(|tx| tx.add_dep(&b, &a, t, None))?;
            Ok(BondResult {
                from: b,
                to: a,
                bond_type,
                poured: None,
            })
        }
        (Some(mol), None) | (None, Some(mol)) => {
            let proto_ref = if issues::exists(store.conn(), &mol)? && resolve(a).as_deref() == Some(mol.as_str()) {
                b
            } else {
                a
            };
            let proto = load_proto(proto_ref, cwd, vars).map_err(|e| match e {
                MolError::Cook(msg) => MolError::Invalid(format!(
                    "`{proto_ref}` is neither an issue id nor a protomolecule: {msg}"
                )),
                other => other,
            })?;
            let ephemeral = issues::get(store.conn(), &mol)?.ephemeral;
            let opts = PourOptions {
                vars: vars.clone(),
                ephemeral,
                ..Default::default()
            };
            let t = bond_type.dep_type();
            store.write(|tx| {
                let poured = pour_tx(tx, &proto, &opts)?;
                tx.add_dep(&poured.new_epic_id, &mol, t, None)?;
                Ok(BondResult {
                    from: poured.new_epic_id.clone(),
                    to: mol.clone(),
                    bond_type,
                    poured: Some(poured),
                })
            })
        }
        (None, None) => Err(MolError::Invalid(format!(
            "neither `{a}` nor `{b}` is an existing issue; pour one of them first (`bd mol pour`), then bond the other onto it"
        ))),
    }
}
