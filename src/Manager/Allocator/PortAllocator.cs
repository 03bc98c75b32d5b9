using Shoal.Api;

namespace Shoal.Manager.Allocator;

/// <summary>
/// The cluster-wide table of published ports (SwarmKit's <c>portallocator.go</c>): which service holds each ingress
/// (routing-mesh) port, per protocol. Explicit published ports are reserved as asked; a published port of 0 gets the
/// lowest free port of the dynamic range. Host-mode ports are not reserved here: they bind only on the task's node and
/// the scheduler keeps them apart per node. Pure and single-threaded: the allocator owns one instance, and the control
/// API can ask <see cref="Validate"/> (which changes nothing) before it accepts a spec.
/// </summary>
public sealed class PortAllocator
{
    private readonly Dictionary<PortKey, Owner> _owners = [];
    private readonly Dictionary<string, List<PortKey>> _byService = new(StringComparer.Ordinal);

    public PortAllocator(uint dynamicStart = AllocatorOptions.DefaultDynamicPortStart, uint dynamicEnd = AllocatorOptions.DefaultDynamicPortEnd)
    {
        ArgumentOutOfRangeException.ThrowIfZero(dynamicStart);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(dynamicEnd, MaxPort);
        ArgumentOutOfRangeException.ThrowIfLessThan(dynamicEnd, dynamicStart);
        DynamicStart = dynamicStart;
        DynamicEnd = dynamicEnd;
    }

    /// <summary>
    /// A table rebuilt from the services' stored endpoints (as the allocator does at start): how a caller outside the
    /// allocator's loop — the control API checking a spec inside its own read — gets reservations it may query.
    /// Services whose ports clash with an earlier one are left out.
    /// </summary>
    public static PortAllocator FromServices(IEnumerable<Service> services, uint dynamicStart = AllocatorOptions.DefaultDynamicPortStart, uint dynamicEnd = AllocatorOptions.DefaultDynamicPortEnd)
    {
        ArgumentNullException.ThrowIfNull(services);
        var table = new PortAllocator(dynamicStart, dynamicEnd);
        foreach (var service in services)
        {
            table.Restore(service.Id, service.Spec?.Annotations?.Name ?? string.Empty, service.Endpoint);
        }

        return table;
    }

    /// <summary>The highest port number.</summary>
    public const uint MaxPort = 65535;

    /// <summary>First port of the dynamic range.</summary>
    public uint DynamicStart { get; }

    /// <summary>Last port of the dynamic range (inclusive).</summary>
    public uint DynamicEnd { get; }

    /// <summary>Ports reserved, all services together.</summary>
    public int Count => _owners.Count;

    /// <summary>The service holding a published ingress port, or null.</summary>
    public string? OwnerOf(PortProtocol protocol, uint publishedPort) =>
        _owners.TryGetValue(new PortKey(protocol, publishedPort), out var owner) ? owner.ServiceId : null;

    /// <summary>
    /// Checks that <paramref name="spec"/> could be allocated for service <paramref name="serviceId"/> (empty for a
    /// service not yet created) against the current reservations, without changing them. Returns a message that names
    /// the port and the service holding it, or null when the spec fits.
    /// </summary>
    public string? Validate(string serviceId, EndpointSpec? spec)
    {
        ArgumentNullException.ThrowIfNull(serviceId);
        return Plan(serviceId, spec, current: null, out _);
    }

    /// <summary>
    /// Allocates the ports of <paramref name="spec"/> for a service, replacing whatever it held: explicit ingress ports
    /// must be free; dynamic ones keep the port <paramref name="current"/> gave the same (protocol, target) when it was
    /// dynamic there too, else take the lowest free port of the range. Returns the endpoint's ports in spec order (host
    /// ports copied as given), or null with <paramref name="error"/> set — and then the table is unchanged.
    /// </summary>
    public IReadOnlyList<PortConfig>? Allocate(string serviceId, string serviceName, EndpointSpec? spec, Endpoint? current, out string? error)
    {
        ArgumentException.ThrowIfNullOrEmpty(serviceId);
        error = Plan(serviceId, spec, current, out var ports);
        if (error is not null)
        {
            return null;
        }

        Release(serviceId);
        var owner = new Owner(serviceId, serviceName);
        var keys = new List<PortKey>();
        foreach (var port in ports)
        {
            if (IsIngress(port))
            {
                var key = new PortKey(port.Protocol, port.PublishedPort);
                _owners[key] = owner;
                keys.Add(key);
            }
        }

        if (keys.Count > 0)
        {
            _byService[serviceId] = keys;
        }

        return ports;
    }

    /// <summary>
    /// Takes back the reservations a service's stored endpoint records (rebuilding the table after a restart or a
    /// leader change). Returns an error naming the conflicting port if another service already holds one of them;
    /// then nothing is reserved for this service.
    /// </summary>
    public string? Restore(string serviceId, string serviceName, Endpoint? endpoint)
    {
        ArgumentException.ThrowIfNullOrEmpty(serviceId);
        Release(serviceId);
        var keys = new List<PortKey>();
        foreach (var port in endpoint?.Ports ?? [])
        {
            if (!IsIngress(port) || port.PublishedPort == 0)
            {
                continue;
            }

            var key = new PortKey(port.Protocol, port.PublishedPort);
            if (_owners.TryGetValue(key, out var other) && other.ServiceId != serviceId)
            {
                return InUse(key, other);
            }

            keys.Add(key);
        }

        var owner = new Owner(serviceId, serviceName);
        foreach (var key in keys)
        {
            _owners[key] = owner;
        }

        if (keys.Count > 0)
        {
            _byService[serviceId] = keys;
        }

        return null;
    }

    /// <summary>Frees every port a service holds (it was deleted). True when it held any.</summary>
    public bool Release(string serviceId)
    {
        if (!_byService.Remove(serviceId, out var keys))
        {
            return false;
        }

        foreach (var key in keys)
        {
            if (_owners.TryGetValue(key, out var owner) && owner.ServiceId == serviceId)
            {
                _owners.Remove(key);
            }
        }

        return true;
    }

    /// <summary>The ports a service holds, as "port/protocol" (diagnostics and tests).</summary>
    public IReadOnlyList<string> PortsOf(string serviceId) =>
        _byService.TryGetValue(serviceId, out var keys) ? keys.Select(k => k.ToString()).ToList() : [];

    private static bool IsIngress(PortConfig port) => port.PublishMode == PublishMode.Ingress;

    private static PortConfig WithPublished(PortConfig port, uint published)
    {
        var copy = port.Clone();
        copy.PublishedPort = published;
        return copy;
    }

    /// <summary>Works out an allocation without changing the table; returns the error, or null with the ports.</summary>
    private string? Plan(string serviceId, EndpointSpec? spec, Endpoint? current, out List<PortConfig> ports)
    {
        ports = [];
        if (spec is null || spec.Ports.Count == 0)
        {
            return null;
        }

        // Ports this allocation takes, so two ports of one spec never get the same number.
        var taken = new HashSet<PortKey>();
        var result = new PortConfig?[spec.Ports.Count];

        // Explicit ingress ports first: they are not negotiable, and a dynamic one must not take them.
        for (var i = 0; i < spec.Ports.Count; i++)
        {
            var port = spec.Ports[i];
            if (!IsIngress(port))
            {
                result[i] = port.Clone();
                continue;
            }

            if (port.PublishedPort == 0)
            {
                continue;
            }

            if (port.PublishedPort > MaxPort)
            {
                return $"published port {port.PublishedPort} is out of range (1-{MaxPort})";
            }

            var key = new PortKey(port.Protocol, port.PublishedPort);
            if (!taken.Add(key))
            {
                return $"port {key} is published more than once in the endpoint spec";
            }

            if (_owners.TryGetValue(key, out var owner) && owner.ServiceId != serviceId)
            {
                return InUse(key, owner);
            }

            result[i] = port.Clone();
        }

        // Dynamic ports keep what the service had for the same (protocol, target), in the order it had them...
        var previous = PreviousDynamic(current);
        for (var i = 0; i < spec.Ports.Count; i++)
        {
            var port = spec.Ports[i];
            if (result[i] is not null || !previous.TryGetValue((port.Protocol, port.TargetPort), out var kept))
            {
                continue;
            }

            while (kept.Count > 0 && result[i] is null)
            {
                var key = new PortKey(port.Protocol, kept.Dequeue());
                if (!taken.Contains(key) && (!_owners.TryGetValue(key, out var owner) || owner.ServiceId == serviceId))
                {
                    taken.Add(key);
                    result[i] = WithPublished(port, key.Port);
                }
            }
        }

        // ...and the others take the lowest free ports of the range.
        for (var i = 0; i < spec.Ports.Count; i++)
        {
            if (result[i] is not null)
            {
                continue;
            }

            var port = spec.Ports[i];
            var chosen = LowestFree(serviceId, port.Protocol, taken);
            if (chosen == 0)
            {
                return $"no free port left in the dynamic range {DynamicStart}-{DynamicEnd} for target port {port.TargetPort}/{Name(port.Protocol)}";
            }

            taken.Add(new PortKey(port.Protocol, chosen));
            result[i] = WithPublished(port, chosen);
        }

        ports = [.. result.Select(p => p!)];
        return null;
    }

    /// <summary>The dynamic ports of a previous allocation: entries whose spec port asked for 0 (the allocator writes
    /// the ports in spec order, one per spec port).</summary>
    private static Dictionary<(PortProtocol, uint), Queue<uint>> PreviousDynamic(Endpoint? current)
    {
        var previous = new Dictionary<(PortProtocol, uint), Queue<uint>>();
        if (current?.Spec is not { } spec || spec.Ports.Count != current.Ports.Count)
        {
            return previous;
        }

        for (var i = 0; i < spec.Ports.Count; i++)
        {
            var asked = spec.Ports[i];
            var got = current.Ports[i];
            if (!IsIngress(asked) || asked.PublishedPort != 0 || !IsIngress(got) || got.PublishedPort == 0
                || got.Protocol != asked.Protocol || got.TargetPort != asked.TargetPort)
            {
                continue;
            }

            if (!previous.TryGetValue((asked.Protocol, asked.TargetPort), out var queue))
            {
                previous[(asked.Protocol, asked.TargetPort)] = queue = new Queue<uint>();
            }

            queue.Enqueue(got.PublishedPort);
        }

        return previous;
    }

    private uint LowestFree(string serviceId, PortProtocol protocol, HashSet<PortKey> taken)
    {
        for (var port = DynamicStart; port <= DynamicEnd; port++)
        {
            var key = new PortKey(protocol, port);
            if (taken.Contains(key))
            {
                continue;
            }

            // A port the service itself holds is free for it: this allocation replaces its old one.
            if (!_owners.TryGetValue(key, out var owner) || owner.ServiceId == serviceId)
            {
                return port;
            }
        }

        return 0;
    }

    private static string InUse(PortKey key, Owner owner) => owner.ServiceName.Length > 0
        ? $"port {key} is already in use by service '{owner.ServiceName}' ({owner.ServiceId})"
        : $"port {key} is already in use by service {owner.ServiceId}";

    internal static string Name(PortProtocol protocol) => protocol switch
    {
        PortProtocol.Tcp => "tcp",
        PortProtocol.Udp => "udp",
        PortProtocol.Sctp => "sctp",
        _ => protocol.ToString().ToLowerInvariant(),
    };

    private readonly record struct PortKey(PortProtocol Protocol, uint Port)
    {
        public override string ToString() => $"{Port}/{Name(Protocol)}";
    }

    private readonly record struct Owner(string ServiceId, string ServiceName);
}
