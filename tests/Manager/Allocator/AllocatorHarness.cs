using Microsoft.Extensions.Logging;
using Shoal.Api;
using Shoal.Manager.Allocator;
using Shoal.Store;
using Shoal.TestKit;
using AllocatorLoop = Shoal.Manager.Allocator.Allocator;

namespace Shoal.Manager.Tests.Allocation;

/// <summary>A Raft-less store with the allocator running on it (real time unless given, default 50 ms / 1 s debounce),
/// and builders for services with published ports.</summary>
internal sealed class AllocatorHarness : IAsyncDisposable
{
    private CancellationTokenSource _stop = new();
    private Task? _run;

    public AllocatorHarness(TimeProvider? time = null, AllocatorOptions? options = null, MemoryStore? store = null)
    {
        Store = store ?? new MemoryStore();
        Allocator = new AllocatorLoop(Store, options, time, TestLog.Factory.CreateLogger<AllocatorLoop>());
    }

    public MemoryStore Store { get; }

    public AllocatorLoop Allocator { get; private set; }

    public static async Task<AllocatorHarness> StartAsync(params IStoreObject[] initial)
    {
        var harness = new AllocatorHarness();
        if (initial.Length > 0)
        {
            await harness.CreateAsync(initial);
        }

        harness.Start();
        return harness;
    }

    public void Start() => _run = Task.Run(() => Allocator.RunAsync(_stop.Token));

    /// <summary>Stops the allocator (leadership lost) and starts a fresh one on the same store (a new leader).</summary>
    public async Task RestartAsync(AllocatorOptions? options = null)
    {
        await StopAsync();
        _stop.Dispose();
        _stop = new CancellationTokenSource();
        Allocator = new AllocatorLoop(Store, options, logger: TestLog.Factory.CreateLogger<AllocatorLoop>());
        Start();
    }

    /// <summary>Waits until the allocator watches the store: later writes reach it as events.</summary>
    public Task WatchingAsync() => Eventually.TrueAsync(() => Store.WatcherCount > 0, "the allocator watching the store");

    public ValueTask CreateAsync(params IStoreObject[] objects) => Store.CreateAsync(objects);

    /// <summary>Reads the stored service, changes a copy of its spec and writes it back (what the control API does).</summary>
    public ValueTask ChangeSpecAsync(string id, Action<ServiceSpec> change) => Store.UpdateAsync(tx =>
    {
        var copy = tx.Services.Get(id)!.Clone();
        change(copy.Spec);
        copy.SpecVersion++;
        tx.Update(copy);
    });

    public ValueTask DeleteServiceAsync(string id) => Store.UpdateAsync(tx => tx.Delete<Service>(id));

    public Service GetService(string id) => Store.View().Services.Get(id)!;

    public SwarmTask GetTask(string id) => Store.View().Tasks.Get(id)!;

    /// <summary>Waits until the stored endpoint of <paramref name="service"/> was allocated for its current spec.</summary>
    public Task<Service> WaitAllocatedAsync(Service service) => WaitAllocatedAsync(service.Id);

    public async Task<Service> WaitAllocatedAsync(string id)
    {
        await Eventually.TrueAsync(
            () => GetService(id) is { Endpoint: { } endpoint } s && (endpoint.Spec ?? new EndpointSpec()).Equals(s.Spec.Endpoint ?? new EndpointSpec()),
            $"service {id} allocated for its current endpoint spec");
        return GetService(id);
    }

    public Task WaitPendingAsync(params SwarmTask[] tasks) => Eventually.TrueAsync(
        () => tasks.All(t => GetTask(t.Id).Status.State == TaskState.Pending),
        $"{tasks.Length} tasks PENDING");

    /// <summary>Runs <paramref name="trigger"/> and waits until a pass that started after it has committed.</summary>
    public async Task WaitNextPassAsync(Func<ValueTask> trigger)
    {
        var started = Allocator.PassesStarted;
        await trigger();
        await Eventually.TrueAsync(() => Allocator.PassesCompleted > started, "an allocation pass after the change");
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        if (_run is not null)
        {
            await _run;
            _run = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Store.Dispose();
        _stop.Dispose();
    }

    /// <summary>A service publishing <paramref name="ports"/>.</summary>
    public static Service Publishing(string name, params PortConfig[] ports)
    {
        var service = Objects.Service(name);
        service.SpecVersion = 1;
        service.Spec.Endpoint = new EndpointSpec { Ports = { ports } };
        return service;
    }

    /// <summary>An ingress (routing-mesh) port; <paramref name="published"/> 0 asks for a dynamic one.</summary>
    public static PortConfig Ingress(uint target, uint published = 0, PortProtocol protocol = PortProtocol.Tcp) =>
        new() { TargetPort = target, PublishedPort = published, Protocol = protocol, PublishMode = PublishMode.Ingress };

    /// <summary>A host-mode port, bound only on the task's node.</summary>
    public static PortConfig Host(uint target, uint published, PortProtocol protocol = PortProtocol.Tcp) =>
        new() { TargetPort = target, PublishedPort = published, Protocol = protocol, PublishMode = PublishMode.Host };

    /// <summary>A NEW task without a service.</summary>
    public static SwarmTask OneOff() => new()
    {
        Id = Shoal.Api.Naming.Identity.NewId(),
        Spec = new TaskSpec { Container = new ContainerSpec { Image = "busybox" } },
        Status = new SwarmTaskStatus { State = TaskState.New },
        DesiredState = TaskState.Running,
    };
}
