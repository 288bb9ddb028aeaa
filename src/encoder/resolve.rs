//! Where a model's files come from: a local folder or the Hugging Face hub.
//!
//! `--model` takes either. An existing path is a local folder; otherwise an
//! `owner/name` string is a hub repository, fetched through `hf-hub` into the
//! standard cache (`$HF_HOME/hub`, shared with Python). With
//! `HF_HUB_OFFLINE=1` only the cache is consulted.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The model used when none is given.
pub const DEFAULT_MODEL: &str = "rasyosef/splade-mini";

/// The three files a SPLADE model needs.
pub const MODEL_FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

/// A model as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A folder holding config.json, model.safetensors and tokenizer.json.
    Local(PathBuf),
    /// A Hugging Face repository id, with an optional revision.
    Hub {
        /// `owner/name`.
        repo: String,
        /// Branch, tag or commit; `main` when absent.
        revision: Option<String>,
    },
}

/// Paths of a resolved model's files, and how to name the model again.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// config.json
    pub config: PathBuf,
    /// model.safetensors
    pub weights: PathBuf,
    /// tokenizer.json
    pub tokenizer: PathBuf,
    /// The id to record in an index: an absolute folder or a repo id.
    pub id: String,
    /// The hub revision, when the model came from the hub.
    pub revision: Option<String>,
}

impl ModelSource {
    /// Interprets a `--model` value: an existing path is a folder, an
    /// `owner/name` string a hub repository, anything else a folder (whose
    /// absence is reported when loading).
    pub fn parse(model: &str, revision: Option<&str>) -> Self {
        let path = Path::new(model);
        if path.exists() || !looks_like_repo_id(model) {
            return ModelSource::Local(path.to_owned());
        }
        ModelSource::Hub {
            repo: model.to_owned(),
            revision: revision.map(str::to_owned),
        }
    }

    /// Finds (or downloads) the model's files.
    pub(crate) fn resolve(&self) -> Result<ModelFiles> {
        match self {
            ModelSource::Local(dir) => resolve_local(dir),
            ModelSource::Hub { repo, revision } => resolve_hub(repo, revision.as_deref()),
        }
    }
}

fn looks_like_repo_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    parts.len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

fn resolve_local(dir: &Path) -> Result<ModelFiles> {
    if !dir.is_dir() {
        return Err(Error::model(
            dir,
            "no such model folder (expected a folder with config.json, model.safetensors and \
             tokenizer.json, or a Hugging Face repo id such as rasyosef/splade-mini)",
        ));
    }
    for file in MODEL_FILES {
        if !dir.join(file).is_file() {
            return Err(Error::model(dir.join(file), "model file not found"));
        }
    }
    let abs = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
    Ok(ModelFiles {
        config: abs.join("config.json"),
        weights: abs.join("model.safetensors"),
        tokenizer: abs.join("tokenizer.json"),
        id: abs.to_string_lossy().into_owned(),
        revision: None,
    })
}

fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
        .unwrap_or(false)
}

fn resolve_hub(repo: &str, revision: Option<&str>) -> Result<ModelFiles> {
    use hf_hub::{Cache, Repo, RepoType};
    let rev = revision.unwrap_or("main").to_owned();
    let hub_repo = Repo::with_revision(repo.to_owned(), RepoType::Model, rev.clone());
    let mut paths = Vec::new();
    if offline() {
        let cache = Cache::from_env().repo(hub_repo);
        for file in MODEL_FILES {
            let path = cache.get(file).ok_or_else(|| Error::Hub {
                repo: repo.to_owned(),
                file: file.to_owned(),
                message: "HF_HUB_OFFLINE is set and the file is not in the cache".into(),
            })?;
            paths.push(path);
        }
    } else {
        let api = hf_hub::api::sync::ApiBuilder::from_env()
            .with_progress(false)
            .build()
            .map_err(|e| Error::Hub {
                repo: repo.to_owned(),
                file: String::new(),
                message: e.to_string(),
            })?;
        let api_repo = api.repo(hub_repo);
        for file in MODEL_FILES {
            let path = api_repo.get(file).map_err(|e| Error::Hub {
                repo: repo.to_owned(),
                file: file.to_owned(),
                message: super::download::api_message(&e),
            })?;
            paths.push(path);
        }
    }
    for (file, path) in MODEL_FILES.iter().zip(&paths) {
        super::download::ensure_complete(repo, file, path)?;
    }
    let [config, weights, tokenizer]: [PathBuf; 3] = paths.try_into().expect("three files");
    Ok(ModelFiles {
        config,
        weights,
        tokenizer,
        id: repo.to_owned(),
        revision: Some(rev),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_distinguishes_folders_and_repo_ids() {
        assert_eq!(
            ModelSource::parse("rasyosef/splade-mini", Some("v1")),
            ModelSource::Hub {
                repo: "rasyosef/splade-mini".into(),
                revision: Some("v1".into())
            }
        );
        assert!(matches!(
            ModelSource::parse("./models/x", None),
            ModelSource::Local(_)
        ));
        assert!(matches!(
            ModelSource::parse("/abs/a/b", None),
            ModelSource::Local(_)
        ));
        assert!(matches!(
            ModelSource::parse("a/b/c", None),
            ModelSource::Local(_)
        ));
        let dir = std::env::temp_dir();
        assert!(matches!(
            ModelSource::parse(dir.to_str().unwrap(), None),
            ModelSource::Local(_)
        ));
    }

    #[test]
    fn missing_local_folder_names_it() {
        let err = ModelSource::parse("./no/such/model/dir", None)
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no/such/model/dir") && err.contains("no such model folder"),
            "{err}"
        );
    }

    #[test]
    fn offline_hub_miss_explains_local_alternative() {
        // SAFETY of the test: HF_HOME points at an empty temp dir, so the
        // cache lookup fails without any network access.
        let home = tempfile::tempdir().unwrap();
        // SAFETY: tests in this module do not read these variables concurrently.
        unsafe {
            std::env::set_var("HF_HOME", home.path());
            std::env::set_var("HF_HUB_OFFLINE", "1");
        }
        let err = resolve_hub("someone/some-model", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("someone/some-model") && err.contains("a local folder"),
            "{err}"
        );
    }
}
