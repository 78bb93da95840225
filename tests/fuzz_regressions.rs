//! Inputs that once broke a fuzz property, replayed on every test run.
//!
//! Each file under `corpus/fuzz-regressions/<property>/` is passed to the
//! property of that name in `pcap-miner-props`; a folder named after no
//! property fails the test, so a typo cannot hide a regression input.

use crate::util::repo_root;

#[test]
fn fuzz_regressions_still_pass() {
    let root = repo_root().join("corpus/fuzz-regressions");
    let mut replayed = 0;
    for folder in std::fs::read_dir(&root).unwrap() {
        let folder = folder.unwrap().path();
        let name = folder.file_name().unwrap().to_string_lossy().to_string();
        let Some((_, property)) = pcap_miner_props::PROPERTIES
            .iter()
            .find(|(n, _)| *n == name)
        else {
            panic!("{}: no property named {name:?}", folder.display());
        };
        for input in std::fs::read_dir(&folder).unwrap() {
            let input = input.unwrap().path();
            let data = std::fs::read(&input).unwrap();
            eprintln!("replaying {}", input.display());
            property(&data);
            replayed += 1;
        }
    }
    assert!(
        replayed > 0,
        "no regression input found under {}",
        root.display()
    );
}
