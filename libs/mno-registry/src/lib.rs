//! root.modules.yaml: the module registry (model, validation, load plan, supervisor).
