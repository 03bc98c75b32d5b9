using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;
using Shoal.Store;

using Shoal.Manager.Reconciliation;

namespace Shoal.Manager.Allocator;

/// <summary>
/// Allocates what services and tasks need before they can be scheduled (DESIGN §8), on the leader only, and owns
/// <c>Service.endpoint</c>, <c>SwarmTask.endpoint</c> and the NEW → PENDING move (§4). This milestone allocates published
/// ports; networks and VIPs come with milestone 2. It rebuilds the cluster-wide port table (<see cref="PortAllocator"/>)
/// from the services' stored endpoints in a <see cref="MemoryStore.ViewAndWatch"/> snapshot, then follows service and
/// task events. Passes are debounced like the scheduler's; a pass allocates the services whose endpoint does not match
/// their spec, then moves the NEW tasks of allocated services (and tasks without a service) to PENDING with the
/// service's endpoint, all through <see cref="MemoryStore.BatchAsync"/>, each object written from its stored version.
/// A service whose ports conflict is left unallocated (logged), its tasks stay NEW, and it is tried again when a
/// service is updated or removed.
/// </summary>
public sealed partial class Allocator
{
    /// <summary>The status message of a task the allocator moved to PENDING (SwarmKit's wording).</summary>
    public const string PendingMessage = "pending task scheduling";

    private readonly MemoryStore _store;
    private readonly AllocatorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<string, Service> _services = new(StringComparer.Ordinal);

    /// <summary>Services whose endpoint must be (re)allocated at the next pass.</summary>
    private readonly HashSet<string> _toAllocate = new(StringComparer.Ordinal);

    /// <summary>Services refused at their last attempt, with the reason; tried again once ports may have been freed.</summary>
    private readonly Dictionary<string, string> _refused = new(StringComparer.Ordinal);

    /// <summary>Tasks in state NEW that are still meant to run.</summary>
    private readonly Dictionary<string, SwarmTask> _new = new(StringComparer.Ordinal);
    private bool _portsMayBeFree;
    private int _passesStarted;
    private int _passesCompleted;
    private int _relevantCommits;

    public Allocator(MemoryStore store, AllocatorOptions? options = null, TimeProvider? time = null, ILogger<Allocator>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _options = options ?? new AllocatorOptions();
        _options.Validate();
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        Ports = new PortAllocator(_options.DynamicPortStart, _options.DynamicPortEnd);
    }

    /// <summary>The port table; read it only from the allocator's own loop, or when the loop is not running.</summary>
    internal PortAllocator Ports { get; }

    /// <summary>Passes started so far (tests wait on these counts).</summary>
    internal int PassesStarted => Volatile.Read(ref _passesStarted);

    /// <summary>Passes whose writes are committed.</summary>
    internal int PassesCompleted => Volatile.Read(ref _passesCompleted);

    /// <summary>Commits seen that gave the allocator something to do (each restarts the quiet gap).</summary>
    internal int RelevantCommits => Volatile.Read(ref _relevantCommits);

    /// <summary>Transactions committed by the last pass.</summary>
    internal int LastPassCommits { get; private set; }

    /// <summary>Allocates until <paramref name="cancellationToken"/> is cancelled (leadership lost) or the store closes.</summary>
    /// <remarks>Work found at start is done at once; later work after the debounce.</remarks>
    public Task RunAsync(CancellationToken cancellationToken) => new DebouncedWatchLoop
    {
        Filter = StoreEventFilters.Any(StoreEventFilters.Of<Service>(), StoreEventFilters.Of<SwarmTask>()),
        Load = Load,
        OnStarted = () => LogStarted(_logger, _services.Count, Ports.Count, _new.Count),
        OnStopped = () => LogStopped(_logger),
        Apply = Apply,
        HasWork = () => HasWork,
        PassAsync = async ct =>
        {
            await PassAsync(ct);
            return false;
        },
        OnRelevantCommit = () => Interlocked.Increment(ref _relevantCommits),
        Time = _time,
        QuietGap = _options.CommitDebounceGap,
        MaxLatency = _options.MaxLatency,
    }.RunAsync(_store, cancellationToken);

    /// <summary>Services to allocate, refused services that may fit now, or tasks to move.</summary>
    private bool HasWork => _toAllocate.Count > 0 || (_portsMayBeFree && _refused.Count > 0) || _new.Values.Any(IsReady);

    /// <summary>A task the allocator must move: NEW and still meant to run. Tasks whose desired state is past RUNNING
    /// while still NEW are the orchestrator's to clean up.</summary>
    private static bool IsNew(SwarmTask task) =>
        task.Status?.State == TaskState.New && task.DesiredState <= TaskState.Running;

    /// <summary>The endpoint spec a service asks for; a missing one is an empty spec.</summary>
    private static EndpointSpec SpecOf(Service service) => service.Spec?.Endpoint ?? new EndpointSpec();

    /// <summary>True when the stored endpoint was allocated for the service's current spec.</summary>
    private static bool IsAllocated(Service service) =>
        service.Endpoint is { } endpoint && (endpoint.Spec ?? new EndpointSpec()).Equals(SpecOf(service));

    private static string NameOf(Service service) => service.Spec?.Annotations?.Name ?? string.Empty;

    /// <summary>A NEW task that can move now: no service, or a service the allocator considers allocated.</summary>
    private bool IsReady(SwarmTask task)
    {
        if (task.ServiceId.Length == 0)
        {
            return true;
        }

        // A task whose service is gone stays NEW: the orchestrator removes it.
        return _services.TryGetValue(task.ServiceId, out var service) && IsSettled(service);
    }

    /// <summary>The service's stored endpoint is allocated and the allocator has nothing pending for it.</summary>
    private bool IsSettled(Service service) =>
        IsAllocated(service) && !_toAllocate.Contains(service.Id) && !_refused.ContainsKey(service.Id);

    private void Load(ReadTransaction view)
    {
        _services.Clear();
        _toAllocate.Clear();
        _refused.Clear();
        _new.Clear();
        foreach (var service in view.Services.All())
        {
            _services[service.Id] = service;
            if (Ports.Restore(service.Id, NameOf(service), service.Endpoint) is { } conflict)
            {
                LogRestoreConflict(_logger, NameOf(service), service.Id, conflict);
                _toAllocate.Add(service.Id);
            }
            else if (!IsAllocated(service))
            {
                _toAllocate.Add(service.Id);
            }
        }

        foreach (var task in view.Tasks.All())
        {
            if (IsNew(task))
            {
                _new[task.Id] = task;
            }
        }
    }

    /// <summary>Applies one store event to the allocator's state; true when it may give a pass something to do.</summary>
    private bool Apply(StoreEvent e)
    {
        switch (e.Target)
        {
            case Service service when e.Kind == StoreEventKind.Delete:
                _services.Remove(service.Id);
                _toAllocate.Remove(service.Id);
                _refused.Remove(service.Id);
                if (Ports.Release(service.Id))
                {
                    _portsMayBeFree = true;
                }

                return _refused.Count > 0;
            case Service service:
                _services[service.Id] = service;
                if (e.Kind == StoreEventKind.Update && e.Old is Service old && !SpecOf(old).Equals(SpecOf(service)))
                {
                    // Another service changing its ports may free one a refused service asked for.
                    _portsMayBeFree = true;
                }

                if (!IsAllocated(service))
                {
                    // New, or its endpoint spec changed: allocate it (again), even if it was refused before.
                    _refused.Remove(service.Id);
                    _toAllocate.Add(service.Id);
                    return true;
                }

                return _portsMayBeFree && _refused.Count > 0;
            case SwarmTask task when e.Kind == StoreEventKind.Delete:
                _new.Remove(task.Id);
                return false;
            case SwarmTask task:
                if (IsNew(task))
                {
                    _new[task.Id] = task;
                    return true;
                }

                _new.Remove(task.Id);
                return false;
            default:
                return false;
        }
    }
}
