//! `syncguard-fleet service install|uninstall|start|stop`: `watch` as a Windows
//! service, through the `windows-service` crate. The service manager starts the
//! binary as `syncguard-fleet --config PATH service run`, which hands the process to
//! the dispatcher; the service then runs `watch` on that file, logs (transitions
//! included) to a file in the service's data directory, and stops cleanly when the
//! manager says Stop or the machine shuts down.
//!
//! Linux has systemd for this (examples/syncguard-fleet.service); there, every
//! action says so and exits UNKNOWN.

use std::path::Path;

use crate::cli::ServiceAction;

/// The service's name in the service manager (`sc query syncguard-fleet`).
pub const NAME: &str = "syncguard-fleet";

/// Carries out one `service` action.
pub fn act(action: ServiceAction, config: &Path, watch_config: bool) -> anyhow::Result<()> {
    imp::act(action, config, watch_config)
}

#[cfg(not(windows))]
mod imp {
    use std::path::Path;

    use crate::cli::ServiceAction;

    pub fn act(_: ServiceAction, _: &Path, _: bool) -> anyhow::Result<()> {
        anyhow::bail!(
            "`service` registers a Windows service and works only on Windows; on Linux run \
             `syncguard-fleet watch` under systemd (examples/syncguard-fleet.service, see \
             docs/operations.md)"
        )
    }
}

#[cfg(windows)]
mod imp {
    use std::ffi::{OsStr, OsString};
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use anyhow::Context;
    use windows_service::service::{
        ServiceAccess, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode,
        ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
    };
    use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
    use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
    use windows_service::{define_windows_service, service_dispatcher};

    use super::NAME;
    use crate::cli::ServiceAction;
    use crate::config::Config;
    use crate::platform::paths;
    use crate::watch::{self, WatchOptions};

    const DISPLAY_NAME: &str = "SyncGuard fleet monitor";
    const DESCRIPTION: &str =
        "Watches NVIDIA Quadro Sync health reported by SyncGuard nodes (syncguard-fleet watch).";

    /// What `service run` was started with, for the dispatcher's callback, which
    /// takes no context of ours.
    static RUN: OnceLock<(PathBuf, bool)> = OnceLock::new();

    pub fn act(action: ServiceAction, config: &Path, watch_config: bool) -> anyhow::Result<()> {
        match action {
            ServiceAction::Install => install(config, watch_config),
            ServiceAction::Uninstall => uninstall(),
            ServiceAction::Start => {
                open(ServiceAccess::START)?
                    .start(&[] as &[&OsStr])
                    .context("cannot start the service")?;
                println!(
                    "started {NAME}; log: {}",
                    paths::service_log_path().display()
                );
                Ok(())
            }
            ServiceAction::Stop => {
                open(ServiceAccess::STOP)?
                    .stop()
                    .context("cannot stop the service")?;
                println!("stopping {NAME}");
                Ok(())
            }
            ServiceAction::Run => {
                let _ = RUN.set((config.to_path_buf(), watch_config));
                service_dispatcher::start(NAME, ffi_service_main).context(
                    "`service run` is what the service manager starts; \
                     from a console, use `syncguard-fleet watch`",
                )
            }
        }
    }

    fn manager(access: ServiceManagerAccess) -> anyhow::Result<ServiceManager> {
        ServiceManager::local_computer(None::<&str>, access)
            .context("cannot open the service manager (run this from an Administrator shell)")
    }

    fn open(access: ServiceAccess) -> anyhow::Result<windows_service::service::Service> {
        manager(ServiceManagerAccess::CONNECT)?
            .open_service(NAME, access)
            .with_context(|| format!("cannot open the service {NAME} (is it installed?)"))
    }

    fn install(config: &Path, watch_config: bool) -> anyhow::Result<()> {
        // The service starts in System32 with no environment of the user's: the
        // config must be named absolutely, and it must be valid now, not at boot.
        let config = std::path::absolute(config)
            .with_context(|| format!("cannot resolve {}", config.display()))?;
        Config::load(&config)?;
        let exe = std::env::current_exe().context("cannot find this program's path")?;
        let mut arguments: Vec<OsString> = vec!["--config".into(), config.clone().into()];
        if watch_config {
            arguments.push("--watch-config".into());
        }
        arguments.extend(["service".into(), "run".into()]);
        let info = ServiceInfo {
            name: NAME.into(),
            display_name: DISPLAY_NAME.into(),
            service_type: ServiceType::OWN_PROCESS,
            start_type: ServiceStartType::AutoStart,
            error_control: ServiceErrorControl::Normal,
            executable_path: exe,
            launch_arguments: arguments,
            dependencies: vec![],
            account_name: None, // LocalSystem
            account_password: None,
        };
        let manager =
            manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
        let service = manager
            .create_service(&info, ServiceAccess::CHANGE_CONFIG)
            .context(
                "cannot install the service (already installed? run `service uninstall` first)",
            )?;
        service
            .set_description(DESCRIPTION)
            .context("cannot describe the service")?;
        println!(
            "installed {NAME}: runs `watch` on {}; starts with Windows\n\
             log: {}\nstart it now with `syncguard-fleet service start`",
            config.display(),
            paths::service_log_path().display()
        );
        Ok(())
    }

    fn uninstall() -> anyhow::Result<()> {
        let service =
            open(ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE)?;
        let running = service
            .query_status()
            .map(|s| s.current_state != ServiceState::Stopped)
            .unwrap_or(false);
        if running {
            let _ = service.stop();
        }
        service.delete().context("cannot remove the service")?;
        println!("removed {NAME}");
        Ok(())
    }

    define_windows_service!(ffi_service_main, service_main);

    fn service_main(_arguments: Vec<OsString>) {
        if let Err(e) = run_service() {
            tracing::error!("service stopped: {e:#}");
        }
    }

    fn status(state: ServiceState, code: u32) -> ServiceStatus {
        ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: match state {
                ServiceState::Running => {
                    ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
                }
                _ => ServiceControlAccept::empty(),
            },
            exit_code: ServiceExitCode::Win32(code),
            checkpoint: 0,
            wait_hint: Duration::from_secs(10),
            process_id: None,
        }
    }

    fn run_service() -> anyhow::Result<()> {
        let (config_path, watch_config) = RUN.get().cloned().context("no config path")?;
        let stop = Arc::new(tokio::sync::Notify::new());
        let on_stop = stop.clone();
        let handle = service_control_handler::register(NAME, move |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                tracing::info!("the service manager asks the monitor to stop ({control:?})");
                // A stored permit: a Stop that comes before the loop waits still counts.
                on_stop.notify_one();
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        })
        .context("cannot register with the service manager")?;
        let log_path = paths::service_log_path();
        let _log = crate::logging::to_file(&log_path)?;
        handle.set_service_status(status(ServiceState::Running, 0))?;
        let result = (|| {
            let config = Config::load(&config_path)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the runtime")?;
            // History as `watch` writes it; by default in the service's data
            // directory, beside its log.
            let history = match config.history.enabled {
                true => {
                    let path = config
                        .history
                        .path
                        .clone()
                        .unwrap_or_else(|| paths::service_data_dir().join("history.db"));
                    Some(std::sync::Arc::new(crate::store::History::start(
                        &path,
                        config.history.retention,
                    )?))
                }
                false => None,
            };
            let options = WatchOptions {
                watch_config,
                signals: false,
                history,
                // `[http] bind` serves the page and /metrics, as `watch` does.
                http: crate::http::plan(&config, None, None, false)?,
                ..WatchOptions::default()
            };
            runtime.block_on(watch::run(
                &config,
                Some(config_path.clone()),
                options,
                async { stop.notified().await },
            ))?;
            runtime.shutdown_timeout(Duration::from_millis(200));
            anyhow::Ok(())
        })();
        match &result {
            Ok(()) => tracing::info!("service stopped"),
            Err(e) => tracing::error!("{e:#}"),
        }
        handle.set_service_status(status(
            ServiceState::Stopped,
            if result.is_ok() { 0 } else { 1 },
        ))?;
        result
    }
}
