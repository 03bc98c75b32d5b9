using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Shoal.Api;
using Shoal.Raft.Core;
using Shoal.Store;
using Shoal.TestKit;

namespace Shoal.Manager.Tests.ControlApi;

/// <summary>Services through the control API over the real cluster port (mutual TLS on loopback).</summary>
public sealed class ServiceControlTests : IAsyncLifetime
{
    private ControlPlane _plane = null!;

    private CancellationToken Ct => TestContext.Current.CancellationToken;

    private Control.ControlClient Client => _plane.Client;

    public async ValueTask InitializeAsync() => _plane = await ControlPlane.StartAsync();

    public async ValueTask DisposeAsync() => await _plane.DisposeAsync();

    [Fact]
    public async Task CreateService_StoresTheSpecVerbatim_AndGetFindsItByIdNameAndPrefix()
    {
        var spec = Spec("web", replicas: 3);

        var created = (await Client.CreateServiceAsync(new() { Spec = spec }, cancellationToken: Ct)).Service;

        var stored = _plane.Store.View().Services.Get(created.Id);
        Assert.NotNull(stored);
        Assert.Equal(stored, created);
        Assert.Equal(spec, stored.Spec);
        Assert.Equal(1UL, stored.SpecVersion);
        Assert.Null(stored.PreviousSpec);
        Assert.Null(stored.UpdateStatus);
        Assert.Null(stored.JobStatus);
        Assert.Equal(created.Id, (await GetAsync(created.Id)).Id);
        Assert.Equal(created.Id, (await GetAsync("WEB")).Id);
        Assert.Equal(created.Id, (await GetAsync(created.Id[..6])).Id);
    }

    [Fact]
    public async Task CreateService_NameTakenInAnyCase_IsAlreadyExists_AndStoresNothing()
    {
        await CreateAsync(Spec("web"));
        var version = _plane.Store.Version;

        var e = await Refused(() => Client.CreateServiceAsync(new() { Spec = Spec("WEB") }, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.AlreadyExists, e.StatusCode);
        Assert.StartsWith("name conflicts with an existing object: service WEB already exists", e.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(version, _plane.Store.Version);
        Assert.Single(_plane.Store.View().Services.All());
    }

    [Fact]
    public async Task CreateService_HostileSpecs_AreInvalidArgument_NamingTheCause_AndStoreNothing()
    {
        var badConstraint = Spec("web");
        badConstraint.Task.Placement = new Placement { Constraints = { "node.foo==x" } };
        var negative = Spec("web", replicas: -1);
        var huge = Spec("web");
        huge.Task.Container.Env.Add(Enumerable.Range(0, 700).Select(i => $"V{i}=" + new string('x', 1000)));
        var nameless = Spec(string.Empty);
        var jobWithUpdate = JobSpec("batch");
        jobWithUpdate.Update = new UpdateConfig { Parallelism = 1 };
        var unknownSecret = Spec("web");
        unknownSecret.Task.Container.Secrets.Add(new SecretReference { SecretId = "nosuchsecretid", SecretName = "db-password", File = new FileTarget { Name = "db" } });
        var version = _plane.Store.Version;

        (ServiceSpec? Spec, string Expected)[] cases =
        [
            (badConstraint, "node.foo==x"),
            (negative, "replicas must be >= 0, got -1"),
            (huge, $"more than the {512 * 1024} allowed"),
            (nameless, "name"),
            (jobWithUpdate, "update must not be set for a job"),
            (unknownSecret, "secret not found: db-password"),
            (null, "a service spec must be provided"),
        ];
        foreach (var (spec, expected) in cases)
        {
            var e = await Refused(() => Client.CreateServiceAsync(new() { Spec = spec }, cancellationToken: Ct).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.Contains(expected, e.Status.Detail, StringComparison.Ordinal);
        }

        Assert.Equal(version, _plane.Store.Version);
        Assert.Empty(_plane.Store.View().Services.All());
    }

    [Fact]
    public async Task CreateService_PublishedPortOfAnotherService_IsRefused_WhetherAllocatedOrNot()
    {
        var web = await CreateAsync(Spec("web", ports: [8080]));
        var version = _plane.Store.Version;

        // The allocator has not run yet: the other service's spec still holds the port.
        var pending = await Refused(() => Client.CreateServiceAsync(new() { Spec = Spec("api", ports: [8080]) }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, pending.StatusCode);
        Assert.Equal($"service api: port 8080/tcp is already in use by service 'web' ({web.Id})", pending.Status.Detail);
        Assert.Equal(version, _plane.Store.Version);

        // Once allocated, a dynamic port the allocator gave is taken as well.
        await _plane.Store.UpdateAsync(tx =>
        {
            var service = tx.Services.Get(web.Id)!.Clone();
            service.Endpoint = new Endpoint { Spec = service.Spec.Endpoint.Clone(), Ports = { service.Spec.Endpoint.Ports[0].Clone(), Port(30000) } };
            tx.Update(service);
        });
        var dynamic = await Refused(() => Client.CreateServiceAsync(new() { Spec = Spec("api", ports: [30000]) }, cancellationToken: Ct).ResponseAsync);
        Assert.Contains("port 30000/tcp is already in use by service 'web'", dynamic.Status.Detail, StringComparison.Ordinal);
        Assert.Single(_plane.Store.View().Services.All());

        var free = await CreateAsync(Spec("api", ports: [8081]));
        Assert.Equal(8081U, free.Spec.Endpoint.Ports[0].PublishedPort);
    }

    [Fact]
    public async Task CreateService_NetworkNames_AreStoredAsIds_UnknownIsNotFound_IngressIsRefused()
    {
        var front = Objects.Network("s_front");
        var ingress = Objects.Network("ingress");
        ingress.Spec.Ingress = true;
        await _plane.Store.CreateAsync(front, ingress);
        var byName = Spec("web");
        byName.Task.Networks.Add(new NetworkAttachmentConfig { Target = "s_front", Aliases = { "web" } });
        var unknown = Spec("api");
        unknown.Task.Networks.Add(new NetworkAttachmentConfig { Target = "s_back" });
        var onIngress = Spec("api");
        onIngress.Task.Networks.Add(new NetworkAttachmentConfig { Target = ingress.Id });

        var web = await CreateAsync(byName);
        var version = _plane.Store.Version;
        var notFound = await Refused(() => CreateAsync(unknown));
        var refused = await Refused(() => CreateAsync(onIngress));

        Assert.Equal(front.Id, web.Spec.Task.Networks[0].Target);
        Assert.Equal(["web"], web.Spec.Task.Networks[0].Aliases);
        Assert.Equal(StatusCode.NotFound, notFound.StatusCode);
        Assert.Equal("service api: network s_back not found", notFound.Status.Detail);
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("ingress network", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(version, _plane.Store.Version);
    }

    [Fact]
    public async Task CreateService_Job_StartsAtIterationZero()
    {
        var job = await CreateAsync(JobSpec("batch"));

        Assert.NotNull(job.JobStatus);
        Assert.Equal(0UL, job.JobStatus.JobIteration);
        Assert.NotNull(job.JobStatus.LastExecution);
    }

    [Fact]
    public async Task UpdateService_ReplacesTheSpec_KeepsThePreviousOne_AndClearsTheUpdateStatus()
    {
        var web = await CreateAsync(Spec("web"));
        web = await SetUpdateStatusAsync(web.Id, UpdateState.Completed);
        var spec = web.Spec.Clone();
        spec.Replicated.Replicas = 3;
        spec.Task.Container.Image = "busybox:1.37";

        var updated = (await Client.UpdateServiceAsync(new() { ServiceId = web.Id, Version = web.Meta.Version, Spec = spec }, cancellationToken: Ct)).Service;

        Assert.Equal(_plane.Store.View().Services.Get(web.Id), updated);
        Assert.Equal(spec, updated.Spec);
        Assert.Equal(web.Spec, updated.PreviousSpec);
        Assert.Equal(2UL, updated.SpecVersion);
        Assert.Equal(1UL, updated.PreviousSpecVersion);
        Assert.Null(updated.UpdateStatus);
        Assert.True(updated.Meta.Version > web.Meta.Version);
    }

    [Fact]
    public async Task UpdateService_StaleVersion_IsUpdateOutOfSequence_AndChangesNothing()
    {
        var web = await CreateAsync(Spec("web"));
        await UpdateAsync(web, s => s.Replicated.Replicas = 2);
        var version = _plane.Store.Version;

        var e = await Refused(() => UpdateAsync(web, s => s.Replicated.Replicas = 5));

        Assert.Equal(StatusCode.Unknown, e.StatusCode);
        Assert.Equal("update out of sequence", e.Status.Detail);
        Assert.Equal(version, _plane.Store.Version);
        Assert.Equal(2, _plane.Store.View().Services.Get(web.Id)!.Spec.Replicated.Replicas);
    }

    [Fact]
    public async Task UpdateService_RenameOrModeChange_IsUnimplemented_AndChangesNothing()
    {
        var web = await CreateAsync(Spec("web"));
        var version = _plane.Store.Version;

        var rename = await Refused(() => UpdateAsync(web, s => s.Annotations.Name = "www"));
        var mode = await Refused(() => UpdateAsync(web, s => s.Global = new GlobalService()));

        Assert.Equal(StatusCode.Unimplemented, rename.StatusCode);
        Assert.StartsWith("renaming services is not supported", rename.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(StatusCode.Unimplemented, mode.StatusCode);
        Assert.StartsWith("service mode change is not allowed", mode.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("replicated", mode.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(version, _plane.Store.Version);
    }

    [Fact]
    public async Task UpdateService_Rollback_SwapsTheSpecs_AndStartsARollback()
    {
        var web = await CreateAsync(Spec("web"));
        var updated = await UpdateAsync(web, s => s.Task.Container.Image = "busybox:1.37");

        var rolledBack = (await Client.UpdateServiceAsync(
            new() { ServiceId = web.Id, Version = updated.Meta.Version, Rollback = true, Spec = Spec("ignored") },
            cancellationToken: Ct)).Service;

        Assert.Equal(web.Spec, rolledBack.Spec);
        Assert.Equal(updated.Spec, rolledBack.PreviousSpec);
        Assert.Equal(1UL, rolledBack.SpecVersion);
        Assert.Equal(2UL, rolledBack.PreviousSpecVersion);
        Assert.Equal(UpdateState.RollbackStarted, rolledBack.UpdateStatus.State);
        Assert.Equal("manually requested rollback", rolledBack.UpdateStatus.Message);
        Assert.NotNull(rolledBack.UpdateStatus.StartedAt);

        // The next update gets a spec version neither spec had: a version never names two specs.
        var next = await UpdateAsync(rolledBack, s => s.Replicated.Replicas = 4);
        Assert.Equal(3UL, next.SpecVersion);
    }

    [Fact]
    public async Task UpdateService_RollbackWithoutPreviousSpec_IsFailedPrecondition()
    {
        var web = await CreateAsync(Spec("web"));
        var version = _plane.Store.Version;

        var e = await Refused(() => Client.UpdateServiceAsync(new() { ServiceId = web.Id, Version = web.Meta.Version, Rollback = true }, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Equal($"service {web.Id} does not have a previous spec", e.Status.Detail);
        Assert.Equal(version, _plane.Store.Version);
    }

    [Fact]
    public async Task UpdateService_Job_StartsANewIteration()
    {
        var job = await CreateAsync(JobSpec("batch"));

        var updated = await UpdateAsync(job, s => s.Task.Container.Args.Add("again"));

        Assert.Equal(job.Meta.Version, updated.JobStatus.JobIteration);
        Assert.NotEqual(0UL, updated.JobStatus.JobIteration);
    }

    [Fact]
    public async Task UpdateService_PortsAreCheckedAgainstOtherServicesOnly()
    {
        var web = await CreateAsync(Spec("web", ports: [8080]));
        await CreateAsync(Spec("api", ports: [9090]));
        var version = _plane.Store.Version;

        var e = await Refused(() => UpdateAsync(web, s => s.Endpoint.Ports.Add(Port(9090))));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("port 9090/tcp is already in use by service 'api'", e.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(version, _plane.Store.Version);

        var kept = await UpdateAsync(web, s => s.Endpoint.Ports.Add(Port(8081)));
        Assert.Equal(new uint[] { 8080, 8081 }, kept.Spec.Endpoint.Ports.Select(p => p.PublishedPort));
    }

    [Fact]
    public async Task UpdateService_UnknownServiceOrInvalidSpec_IsRefusedClearly()
    {
        var web = await CreateAsync(Spec("web"));
        var version = _plane.Store.Version;

        var unknown = await Refused(() => Client.UpdateServiceAsync(new() { ServiceId = "nosuch", Version = 1, Spec = Spec("web") }, cancellationToken: Ct).ResponseAsync);
        var invalid = await Refused(() => UpdateAsync(web, s => s.Replicated.Replicas = -2));
        var noSpec = await Refused(() => Client.UpdateServiceAsync(new() { ServiceId = web.Id, Version = web.Meta.Version }, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("service nosuch not found", unknown.Status.Detail);
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Contains("replicas must be >= 0, got -2", invalid.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(StatusCode.InvalidArgument, noSpec.StatusCode);
        Assert.Equal(version, _plane.Store.Version);
    }

    [Fact]
    public async Task RemoveService_DeletesTheService_AndAnUnknownOneIsNotFound()
    {
        var web = await CreateAsync(Spec("web"));

        await Client.RemoveServiceAsync(new() { ServiceId = web.Id }, cancellationToken: Ct);

        Assert.Null(_plane.Store.View().Services.Get(web.Id));
        var e = await Refused(() => Client.RemoveServiceAsync(new() { ServiceId = web.Id }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Equal($"service {web.Id} not found", e.Status.Detail);
    }

    [Fact]
    public async Task GetService_InsertDefaults_FillsACopy_AndNeverTheStore()
    {
        var web = await CreateAsync(Spec("web"));

        var shown = (await Client.GetServiceAsync(new() { ServiceRef = "web", InsertDefaults = true }, cancellationToken: Ct)).Service;

        Assert.Equal(1, shown.Spec.Update.Parallelism);
        Assert.Equal(FailureAction.Pause, shown.Spec.Update.FailureAction);
        Assert.Equal(UpdateOrder.StopFirst, shown.Spec.Update.Order);
        Assert.Equal(Duration.FromTimeSpan(TimeSpan.FromSeconds(5)), shown.Spec.Update.Monitor);
        Assert.Equal(shown.Spec.Update, shown.Spec.Rollback);
        Assert.Equal(RestartCondition.Any, shown.Spec.Task.Restart.Condition);
        Assert.Equal(Duration.FromTimeSpan(TimeSpan.FromSeconds(5)), shown.Spec.Task.Restart.Delay);
        Assert.Equal(Duration.FromTimeSpan(TimeSpan.FromSeconds(10)), shown.Spec.Task.Container.StopGracePeriod);
        Assert.Equal(web.Spec, _plane.Store.View().Services.Get(web.Id)!.Spec);
        Assert.Null(_plane.Store.View().Services.Get(web.Id)!.Spec.Update);
        Assert.Equal(web.Spec, (await GetAsync("web")).Spec);
    }

    [Fact]
    public async Task GetService_UnknownEmptyOrAmbiguousReference_IsRefusedClearly()
    {
        await _plane.Store.CreateAsync(Objects.Service("one", id: "aaaaaaaaaaaaaaaaaaaaaaaa1"), Objects.Service("two", id: "aaaaaaaaaaaaaaaaaaaaaaaa2"));

        var unknown = await Refused(() => GetAsync("nosuch"));
        var empty = await Refused(() => GetAsync(string.Empty));
        var ambiguous = await Refused(() => GetAsync("aaaa"));

        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("service nosuch not found", unknown.Status.Detail);
        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, ambiguous.StatusCode);
        Assert.Equal("service aaaa is ambiguous (2 matches found)", ambiguous.Status.Detail);
    }

    [Fact]
    public async Task ListServices_AppliesEveryFilter()
    {
        var web = await CreateAsync(Spec("web", labels: ["com.docker.stack.namespace=shop", "tier=front"]));
        await CreateAsync(Spec("db", labels: ["com.docker.stack.namespace=shop", "tier=back"]));
        await CreateAsync(GlobalSpec("monitor"));
        await CreateAsync(JobSpec("batch"));

        async Task<string[]> ListAsync(Action<ListServicesRequest.Types.Filters> set)
        {
            var filters = new ListServicesRequest.Types.Filters();
            set(filters);
            var response = await Client.ListServicesAsync(new() { Filters = filters }, cancellationToken: Ct);
            Assert.Empty(response.Statuses);
            return [.. response.Services.Select(s => s.Spec.Annotations.Name).Order(StringComparer.Ordinal)];
        }

        Assert.Equal(4, (await Client.ListServicesAsync(new(), cancellationToken: Ct)).Services.Count);
        Assert.Equal(["web"], await ListAsync(f => f.IdPrefixes.Add(web.Id)));
        Assert.Equal(["db", "web"], await ListAsync(f => f.NamePrefixes.AddRange(["we", "d"])));
        Assert.Equal(["db", "web"], await ListAsync(f => f.Labels.Add("com.docker.stack.namespace=shop")));
        Assert.Equal(["web"], await ListAsync(f => f.Labels.AddRange(["com.docker.stack.namespace", "tier=front"])));
        Assert.Equal(["monitor"], await ListAsync(f => f.Modes.Add("global")));
        Assert.Equal(["batch", "monitor"], await ListAsync(f => f.Modes.AddRange(["replicated-job", "global"])));
        Assert.Empty(await ListAsync(f =>
        {
            f.Modes.Add("replicated");
            f.NamePrefixes.Add("monitor");
        }));

        var e = await Refused(() => Client.ListServicesAsync(new() { Filters = new() { Modes = { "sometimes" } } }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("\"sometimes\"", e.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListServices_IncludeStatus_CountsTasksOnLiveNodes()
    {
        var up = await _plane.AddNodeAsync("up-1");
        var up2 = await _plane.AddNodeAsync("up-2");
        var down = await _plane.AddNodeAsync("down-1", state: NodeState.Down);
        var web = await CreateAsync(Spec("web", replicas: 3));
        var mon = await CreateAsync(GlobalSpec("monitor"));
        var job = await CreateAsync(JobSpec("batch", maxConcurrent: 2, total: 5));
        var jobNow = await UpdateAsync(job, s => s.Task.Container.Args.Add("v2"));
        var iteration = jobNow.JobStatus.JobIteration;
        await _plane.Store.CreateAsync(
            Objects.Task(web, 1, up.Id, TaskState.Running),
            Objects.Task(web, 2, up2.Id, TaskState.Running),
            Objects.Task(web, 3, down.Id, TaskState.Running),
            Objects.Task(web, 3, up.Id, TaskState.Running, desired: TaskState.Shutdown),
            Objects.Task(mon, 0, up.Id, TaskState.Running),
            Objects.Task(mon, 0, up2.Id, TaskState.Starting),
            Objects.Task(mon, 0, down.Id, TaskState.Running),
            JobTask(jobNow, 1, up.Id, TaskState.Complete, iteration),
            JobTask(jobNow, 2, up.Id, TaskState.Complete, iteration),
            JobTask(jobNow, 3, up2.Id, TaskState.Running, iteration),
            JobTask(jobNow, 4, up2.Id, TaskState.Complete, iteration: 0));

        var response = await Client.ListServicesAsync(new() { IncludeStatus = true }, cancellationToken: Ct);

        Assert.Equal(3, response.Statuses.Count);
        Assert.Equal(new ServiceStatus { RunningTasks = 2, DesiredTasks = 3 }, response.Statuses[web.Id]);
        Assert.Equal(new ServiceStatus { RunningTasks = 1, DesiredTasks = 2 }, response.Statuses[mon.Id]);
        Assert.Equal(new ServiceStatus { RunningTasks = 1, DesiredTasks = 2, CompletedTasks = 2 }, response.Statuses[job.Id]);
    }

    [Fact]
    public async Task Writes_GoThroughTheReplicatedLog_OneEntryEach_AndARefusedProposalChangesNothing()
    {
        var proposer = new ScriptedProposer();
        await using var plane = await ControlPlane.StartAsync(proposer);
        using var follower = new MemoryStore();
        follower.Restore(plane.Store.Save());
        proposer.AddFollower(follower);
        var before = proposer.Proposals;

        var web = (await plane.Client.CreateServiceAsync(new() { Spec = Spec("web") }, cancellationToken: Ct)).Service;
        var spec = web.Spec.Clone();
        spec.Replicated.Replicas = 2;
        var updated = (await plane.Client.UpdateServiceAsync(new() { ServiceId = web.Id, Version = web.Meta.Version, Spec = spec }, cancellationToken: Ct)).Service;

        Assert.Equal(before + 2, proposer.Proposals);
        Assert.Equal(updated, follower.View().Services.Get(web.Id));
        var version = plane.Store.Version;
        proposer.FailNext = new NotLeaderException(0);
        var e = await Refused(() => plane.Client.CreateServiceAsync(new() { Spec = Spec("api") }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Equal(version, plane.Store.Version);
        Assert.Null(plane.Store.View().Services.ByName("api").FirstOrDefault());
    }

    private static ServiceSpec Spec(string name, long replicas = 1, uint[]? ports = null, string[]? labels = null)
    {
        var spec = Objects.Service(name, replicas).Spec;
        foreach (var label in labels ?? [])
        {
            var parts = label.Split('=', 2);
            spec.Annotations.Labels[parts[0]] = parts[1];
        }

        if (ports is not null)
        {
            spec.Endpoint = new EndpointSpec();
            spec.Endpoint.Ports.AddRange(ports.Select(Port));
        }

        return spec;
    }

    private static ServiceSpec GlobalSpec(string name)
    {
        var spec = Spec(name);
        spec.Global = new GlobalService();
        return spec;
    }

    private static ServiceSpec JobSpec(string name, long maxConcurrent = 1, long total = 1)
    {
        var spec = Spec(name);
        spec.ReplicatedJob = new ReplicatedJob { MaxConcurrent = maxConcurrent, TotalCompletions = total };
        return spec;
    }

    private static PortConfig Port(uint published) => new() { Protocol = PortProtocol.Tcp, TargetPort = 80, PublishedPort = published, PublishMode = PublishMode.Ingress };

    private static SwarmTask JobTask(Service job, long slot, string nodeId, TaskState state, ulong iteration)
    {
        var task = Objects.Task(job, slot, nodeId, state, desired: TaskState.Complete);
        task.JobIteration = iteration;
        return task;
    }

    private async Task<Service> CreateAsync(ServiceSpec spec) =>
        (await Client.CreateServiceAsync(new() { Spec = spec }, cancellationToken: Ct)).Service;

    private async Task<Service> UpdateAsync(Service service, Action<ServiceSpec> change)
    {
        var spec = service.Spec.Clone();
        change(spec);
        return (await Client.UpdateServiceAsync(new() { ServiceId = service.Id, Version = service.Meta.Version, Spec = spec }, cancellationToken: Ct)).Service;
    }

    private async Task<Service> GetAsync(string reference) =>
        (await Client.GetServiceAsync(new() { ServiceRef = reference }, cancellationToken: Ct)).Service;

    private async Task<Service> SetUpdateStatusAsync(string id, UpdateState state)
    {
        await _plane.Store.UpdateAsync(tx =>
        {
            var service = tx.Services.Get(id)!.Clone();
            service.UpdateStatus = new UpdateStatus { State = state, Message = "update completed" };
            tx.Update(service);
        });
        return _plane.Store.View().Services.Get(id)!;
    }

    private static async Task<RpcException> Refused(Func<Task> call) => await Assert.ThrowsAsync<RpcException>(call);
}
