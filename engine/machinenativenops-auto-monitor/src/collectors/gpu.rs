//! `gpu`: NVIDIA GPUs through NVML, with DCGM-exporter's metric names and labels (`gpu`,
//! `UUID`, `device`, `modelName`), so its dashboards and alert rules work unchanged.
//!
//! Built only with the cargo feature `gpu`. NVML (`libnvidia-ml.so.1`) is loaded at run time
//! (nvml-wrapper opens it with libloading), so the same binary runs on hosts without a GPU
//! or driver: there the collector reports itself unavailable — `mno_gpu_available{reason} 0`,
//! the reason logged once — and is not counted as failing. Loading is retried every tick, so
//! a driver installed later is picked up. A reading a device does not support (ECC on a
//! consumer card, energy on an old one) is left out for that device.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CollectError, Collector, Context, Toggle};
use crate::metrics::Family;

/// Settings of the `gpu` collector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GpuConfig {
    /// Whether to read NVIDIA GPUs (needs a build with the `gpu` feature).
    pub enabled: bool,
    /// The NVML library to load; default `libnvidia-ml.so.1` from the loader's search path.
    pub library: Option<String>,
}

impl Toggle for GpuConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
}

/// What one device reported; `None` where it does not support a reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// NVML index (the `gpu` label).
    pub index: u32,
    /// `GPU-…` UUID.
    pub uuid: String,
    /// Product name (`modelName`).
    pub model: String,
    /// Minor number, for the `device` label `nvidia<minor>`.
    pub minor: Option<u32>,
    /// GPU utilization, percent.
    pub util_gpu: Option<u32>,
    /// Memory (copy) utilization, percent.
    pub util_mem: Option<u32>,
    /// Framebuffer used, free and total, bytes.
    pub fb: Option<(u64, u64, u64)>,
    /// GPU temperature, °C.
    pub temp_c: Option<u32>,
    /// Power draw, milliwatts.
    pub power_mw: Option<u32>,
    /// Enforced power limit, milliwatts.
    pub power_limit_mw: Option<u32>,
    /// Energy since the driver loaded, millijoules.
    pub energy_mj: Option<u64>,
    /// SM clock, MHz.
    pub sm_clock: Option<u32>,
    /// Memory clock, MHz.
    pub mem_clock: Option<u32>,
    /// PCIe replays.
    pub pcie_replay: Option<u32>,
    /// ECC single-bit (corrected) errors: volatile, aggregate.
    pub ecc_sbe: (Option<u64>, Option<u64>),
    /// ECC double-bit (uncorrected) errors: volatile, aggregate.
    pub ecc_dbe: (Option<u64>, Option<u64>),
}

const MIB: f64 = 1024.0 * 1024.0;

/// The DCGM-named families for the readings of all devices.
pub fn families(readings: &[Reading]) -> Vec<Family> {
    let g = |n: &str, h: &str| Family::gauge(n, h);
    let c = |n: &str, h: &str| Family::counter(n, h);
    let mut f = [
        g("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)."),
        g("DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %)."),
        g("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."),
        g("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB)."),
        g("DCGM_FI_DEV_FB_TOTAL", "Framebuffer memory total (in MiB)."),
        g("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C)."),
        g("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W)."),
        g(
            "DCGM_FI_DEV_POWER_MGMT_LIMIT",
            "Power management limit (in W).",
        ),
        c(
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
            "Total energy consumption since boot (in mJ).",
        ),
        g("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz)."),
        g("DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz)."),
        c(
            "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
            "Total number of PCIe retries.",
        ),
        c(
            "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
            "Total number of single-bit volatile ECC errors.",
        ),
        c(
            "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
            "Total number of double-bit volatile ECC errors.",
        ),
        c(
            "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL",
            "Total number of single-bit persistent ECC errors.",
        ),
        c(
            "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL",
            "Total number of double-bit persistent ECC errors.",
        ),
    ];
    for r in readings {
        let gpu = r.index.to_string();
        let device = r
            .minor
            .map(|m| format!("nvidia{m}"))
            .unwrap_or_else(|| format!("nvidia{}", r.index));
        let l = [
            ("gpu", gpu.as_str()),
            ("UUID", r.uuid.as_str()),
            ("device", device.as_str()),
            ("modelName", r.model.as_str()),
        ];
        let mut put = |i: usize, v: Option<f64>| {
            if let Some(v) = v {
                f[i].push(&l, v);
            }
        };
        put(0, r.util_gpu.map(f64::from));
        put(1, r.util_mem.map(f64::from));
        put(2, r.fb.map(|(u, _, _)| (u as f64 / MIB).round()));
        put(3, r.fb.map(|(_, fr, _)| (fr as f64 / MIB).round()));
        put(4, r.fb.map(|(_, _, t)| (t as f64 / MIB).round()));
        put(5, r.temp_c.map(f64::from));
        put(6, r.power_mw.map(|p| f64::from(p) / 1000.0));
        put(7, r.power_limit_mw.map(|p| f64::from(p) / 1000.0));
        put(8, r.energy_mj.map(|e| e as f64));
        put(9, r.sm_clock.map(f64::from));
        put(10, r.mem_clock.map(f64::from));
        put(11, r.pcie_replay.map(f64::from));
        put(12, r.ecc_sbe.0.map(|e| e as f64));
        put(13, r.ecc_dbe.0.map(|e| e as f64));
        put(14, r.ecc_sbe.1.map(|e| e as f64));
        put(15, r.ecc_dbe.1.map(|e| e as f64));
    }
    let mut out = vec![
        Family::gauge("DCGM_FI_DEV_COUNT", "Number of Devices on the node.")
            .with(&[], readings.len() as f64),
    ];
    super::push_nonempty(&mut out, f);
    out
}

fn available(reason: Option<&str>) -> Family {
    let f = Family::gauge(
        "mno_gpu_available",
        "Whether NVML could be loaded and queried (1); 0 with the reason as a label otherwise.",
    );
    match reason {
        None => f.with(&[], 1.0),
        Some(r) => f.with(&[("reason", r)], 0.0),
    }
}

#[cfg(feature = "gpu")]
mod nvml {
    use super::Reading;
    use nvml_wrapper::Nvml;
    use nvml_wrapper::enum_wrappers::device::{Clock, EccCounter, MemoryError, TemperatureSensor};

    /// Load NVML from `lib` (or the default name).
    pub fn init(lib: Option<&str>) -> Result<Nvml, String> {
        let mut b = Nvml::builder();
        if let Some(l) = lib {
            b.lib_path(std::ffi::OsStr::new(l));
        }
        b.init().map_err(|e| format!("cannot load NVML: {e}"))
    }

    /// Read every device.
    pub fn read(nvml: &Nvml) -> Result<Vec<Reading>, String> {
        let n = nvml
            .device_count()
            .map_err(|e| format!("NVML device count: {e}"))?;
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            let d = nvml
                .device_by_index(i)
                .map_err(|e| format!("NVML device {i}: {e}"))?;
            let util = d.utilization_rates().ok();
            out.push(Reading {
                index: i,
                uuid: d.uuid().unwrap_or_default(),
                model: d.name().unwrap_or_default(),
                minor: d.minor_number().ok(),
                util_gpu: util.as_ref().map(|u| u.gpu),
                util_mem: util.as_ref().map(|u| u.memory),
                fb: d.memory_info().ok().map(|m| (m.used, m.free, m.total)),
                temp_c: d.temperature(TemperatureSensor::Gpu).ok(),
                power_mw: d.power_usage().ok(),
                power_limit_mw: d.enforced_power_limit().ok(),
                energy_mj: d.total_energy_consumption().ok(),
                sm_clock: d.clock_info(Clock::SM).ok(),
                mem_clock: d.clock_info(Clock::Memory).ok(),
                pcie_replay: d.pcie_replay_counter().ok(),
                ecc_sbe: (
                    d.total_ecc_errors(MemoryError::Corrected, EccCounter::Volatile)
                        .ok(),
                    d.total_ecc_errors(MemoryError::Corrected, EccCounter::Aggregate)
                        .ok(),
                ),
                ecc_dbe: (
                    d.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile)
                        .ok(),
                    d.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Aggregate)
                        .ok(),
                ),
            });
        }
        Ok(out)
    }
}

/// Reads the GPUs through NVML, or says why it cannot.
pub struct GpuCollector {
    #[cfg(feature = "gpu")]
    library: Option<String>,
    #[cfg(feature = "gpu")]
    nvml: std::sync::Mutex<Option<nvml_wrapper::Nvml>>,
    /// The last reason it was unavailable, to log a change once.
    last_reason: std::sync::Mutex<Option<String>>,
}

impl GpuCollector {
    /// A collector for `cfg`; NVML is loaded on the first tick.
    pub fn new(cfg: &GpuConfig) -> GpuCollector {
        #[cfg(not(feature = "gpu"))]
        let _ = cfg;
        GpuCollector {
            #[cfg(feature = "gpu")]
            library: cfg.library.clone(),
            #[cfg(feature = "gpu")]
            nvml: std::sync::Mutex::new(None),
            last_reason: std::sync::Mutex::new(None),
        }
    }

    #[cfg(feature = "gpu")]
    fn read(&self) -> Result<Vec<Reading>, String> {
        let mut guard = self
            .nvml
            .lock()
            .map_err(|_| "NVML state poisoned".to_string())?;
        if guard.is_none() {
            *guard = Some(nvml::init(self.library.as_deref())?);
        }
        match guard.as_ref().map(nvml::read) {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => {
                // Start over next tick (the driver may have been reloaded).
                *guard = None;
                Err(e)
            }
            None => Err("NVML not loaded".into()),
        }
    }

    #[cfg(not(feature = "gpu"))]
    fn read(&self) -> Result<Vec<Reading>, String> {
        Err("built without the gpu feature".into())
    }

    fn note(&self, reason: Option<&str>) {
        if let Ok(mut last) = self.last_reason.lock()
            && last.as_deref() != reason
        {
            match reason {
                Some(r) => tracing::warn!(collector = "gpu", "GPUs unavailable: {r}"),
                None => tracing::info!(collector = "gpu", "NVML loaded"),
            }
            *last = reason.map(str::to_string);
        }
    }
}

impl Collector for GpuCollector {
    fn name(&self) -> &'static str {
        "gpu"
    }

    fn collect(&self, _ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError> {
        match self.read() {
            Ok(readings) => {
                self.note(None);
                out.extend(families(&readings));
                out.push(available(None));
            }
            Err(reason) => {
                self.note(Some(&reason));
                out.push(available(Some(&reason)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_become_dcgm_families() {
        let r = Reading {
            index: 0,
            uuid: "GPU-0f3c2a7e-1b2d-4c5e-8f90-123456789abc".into(),
            model: "NVIDIA H200".into(),
            minor: Some(3),
            util_gpu: Some(87),
            util_mem: Some(41),
            fb: Some((10 * 1024 * 1024 * 1024, 131 * 1024 * 1024 * 1024, 141 << 30)),
            temp_c: Some(54),
            power_mw: Some(412_345),
            power_limit_mw: Some(700_000),
            energy_mj: Some(98_765_432),
            sm_clock: Some(1980),
            mem_clock: Some(3201),
            pcie_replay: Some(0),
            ecc_sbe: (Some(2), Some(5)),
            ecc_dbe: (None, None),
        };
        let f = families(&[r]);
        let get = |n: &str| f.iter().find(|x| x.name == n).and_then(|x| x.value(&[]));
        assert_eq!(get("DCGM_FI_DEV_COUNT"), Some(1.0));
        assert_eq!(get("DCGM_FI_DEV_GPU_UTIL"), Some(87.0));
        assert_eq!(get("DCGM_FI_DEV_FB_USED"), Some(10240.0));
        assert_eq!(get("DCGM_FI_DEV_FB_FREE"), Some(131.0 * 1024.0));
        assert_eq!(get("DCGM_FI_DEV_FB_TOTAL"), Some(141.0 * 1024.0));
        assert_eq!(get("DCGM_FI_DEV_POWER_USAGE"), Some(412.345));
        assert_eq!(get("DCGM_FI_DEV_POWER_MGMT_LIMIT"), Some(700.0));
        assert_eq!(get("DCGM_FI_DEV_SM_CLOCK"), Some(1980.0));
        assert_eq!(get("DCGM_FI_DEV_ECC_SBE_AGG_TOTAL"), Some(5.0));
        // Unsupported readings are left out.
        assert_eq!(get("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL"), None);
        let util = f.iter().find(|x| x.name == "DCGM_FI_DEV_GPU_UTIL").unwrap();
        let labels: Vec<&str> = util.samples[0]
            .labels
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(labels, ["gpu", "UUID", "device", "modelName"]);
        assert_eq!(
            util.value(&[("device", "nvidia3"), ("modelName", "NVIDIA H200")]),
            Some(87.0)
        );
    }

    #[test]
    fn without_nvml_the_collector_is_unavailable_not_failing() {
        let c = GpuCollector::new(&GpuConfig {
            enabled: true,
            library: Some("/nonexistent/libnvidia-ml.so.1".into()),
        });
        let ctx = super::super::CollectorsConfig::default().context();
        for _ in 0..2 {
            let mut out = Vec::new();
            c.collect(&ctx, &mut out).unwrap();
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].name, "mno_gpu_available");
            assert_eq!(out[0].samples[0].value, 0.0);
            let reason = &out[0].samples[0].labels[0];
            assert_eq!(reason.0, "reason");
            if cfg!(feature = "gpu") {
                assert!(reason.1.starts_with("cannot load NVML"), "{}", reason.1);
            } else {
                assert_eq!(reason.1, "built without the gpu feature");
            }
        }
    }
}
