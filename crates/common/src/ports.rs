//! Every service's default listener ports, in one table, so that two services started on one
//! machine with their defaults never collide (and a new service picks the next free row).

/// The default ports of one service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    /// The service's name, as in logs, metrics and on the bus.
    pub service: &'static str,
    /// Internal gRPC (the gateway: its public HTTP listener).
    pub main: u16,
    /// Admin listener: `/healthz`, `/readyz`, `/metrics`.
    pub admin: u16,
}

/// The table. Containers each have their own network namespace, so compose and the chart may
/// still give every service the same ports; these defaults are for one machine.
pub const DEFAULT_PORTS: &[Ports] = &[
    Ports {
        service: "gateway",
        main: 8080,
        admin: 9091,
    },
    Ports {
        service: "identity",
        main: 50051,
        admin: 9090,
    },
    Ports {
        service: "payments",
        main: 50052,
        admin: 9092,
    },
    Ports {
        service: "media",
        main: 50053,
        admin: 9093,
    },
];

/// The row of `service`.
///
/// # Panics
/// When `service` has no row: a new service adds one here with ports nobody else uses (the
/// test below checks that).
pub fn of(service: &str) -> Ports {
    DEFAULT_PORTS
        .iter()
        .copied()
        .find(|ports| ports.service == service)
        .unwrap_or_else(|| panic!("no default ports for service `{service}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_services_share_a_default_port() {
        let mut seen = std::collections::HashSet::new();
        for ports in DEFAULT_PORTS {
            assert!(
                seen.insert(ports.main),
                "{} main port reused",
                ports.service
            );
            assert!(
                seen.insert(ports.admin),
                "{} admin port reused",
                ports.service
            );
        }
        assert_eq!(of("payments").admin, 9092);
    }
}
