using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Api.Validation;
using Shoal.Manager.Allocator;
using Shoal.Manager.Orchestrator.Update;
using Shoal.Store;

namespace Shoal.Manager.ControlApi;

// Services (DESIGN §8), with SwarmKit's controlapi/service.go semantics: the spec is user-owned and stored verbatim;
// every check runs inside the write transaction so that a refused request changes nothing.
public sealed partial class ControlApiServer
{
    /// <inheritdoc/>
    public override Task<GetServiceResponse> GetService(GetServiceRequest request, ServerCallContext context) =>
        GuardAsync(() =>
        {
            if (string.IsNullOrEmpty(request.ServiceRef))
            {
                throw Invalid("a service ID, name or ID prefix must be provided");
            }

            var service = ResolveService(_store.View(), request.ServiceRef);
            if (request.InsertDefaults && service.Spec is not null)
            {
                service = service.Clone();
                service.Spec = ServiceDisplayDefaults.Apply(service.Spec);
            }

            return Task.FromResult(new GetServiceResponse { Service = service });
        });

    /// <inheritdoc/>
    public override Task<ListServicesResponse> ListServices(ListServicesRequest request, ServerCallContext context) =>
        GuardAsync(() =>
        {
            var filter = ServiceFilter.Parse(request.Filters, out var error);
            if (error is not null)
            {
                throw Invalid(error);
            }

            var view = _store.View();
            var statuses = request.IncludeStatus ? new ServiceStatuses(view) : null;
            var response = new ListServicesResponse();
            foreach (var service in view.Services.All())
            {
                if (!filter.Matches(service))
                {
                    continue;
                }

                response.Services.Add(service);
                if (statuses is not null)
                {
                    response.Statuses[service.Id] = statuses.Of(service);
                }
            }

            return Task.FromResult(response);
        });

    /// <inheritdoc/>
    public override Task<CreateServiceResponse> CreateService(CreateServiceRequest request, ServerCallContext context) =>
        GuardAsync(async () =>
        {
            var spec = request.Spec ?? throw Invalid("a service spec must be provided");
            EnsureSpecSize(spec);
            SpecValidator.EnsureValid(spec);
            var now = Timestamp.FromDateTimeOffset(_timeProvider.GetUtcNow());
            var created = await _store.UpdateAsync(tx =>
            {
                EnsureReferencesExist(tx, spec);
                EnsurePortsFree(tx, string.Empty, spec);
                var service = new Service { Id = Identity.NewId(), Spec = WithNetworkIds(tx, spec), SpecVersion = 1 };
                if (IsJob(spec))
                {
                    // Tasks of a job carry the iteration they belong to; the first run is iteration 0.
                    service.JobStatus = new JobStatus { JobIteration = 0, LastExecution = now };
                }

                tx.Create(service);
                return tx.Services.Get(service.Id)!;
            }, context.CancellationToken);
            LogServiceCreated(_logger, created.Id, created.Spec.Annotations.Name, created.Spec.ModeCase);
            return new CreateServiceResponse { Service = created };
        });

    /// <inheritdoc/>
    public override Task<UpdateServiceResponse> UpdateService(UpdateServiceRequest request, ServerCallContext context) =>
        GuardAsync(async () =>
        {
            if (string.IsNullOrEmpty(request.ServiceId))
            {
                throw Invalid("a service ID must be provided");
            }

            if (!request.Rollback)
            {
                if (request.Spec is null)
                {
                    throw Invalid($"service {request.ServiceId}: a service spec must be provided (or rollback, to go back to the previous spec)");
                }

                EnsureSpecSize(request.Spec);
                SpecValidator.EnsureValid(request.Spec);
            }

            var now = Timestamp.FromDateTimeOffset(_timeProvider.GetUtcNow());
            var updated = await _store.UpdateAsync(tx =>
            {
                var stored = tx.Services.Get(request.ServiceId) ?? throw ServiceNotFound(request.ServiceId);
                if (stored.Meta.Version != request.Version)
                {
                    throw OutOfSequence();
                }

                Service service;
                if (request.Rollback)
                {
                    var previous = stored.PreviousSpec ?? throw Precondition($"service {stored.Id} does not have a previous spec");
                    EnsureReferencesExist(tx, previous);
                    if (!Equals(previous.Endpoint, stored.Spec?.Endpoint))
                    {
                        EnsurePortsFree(tx, stored.Id, previous);
                    }

                    service = ServiceRollback.Swapped(stored, "manually requested rollback", now);
                }
                else
                {
                    service = stored.Clone();
                    var spec = request.Spec!;
                    EnsureSameIdentity(stored, spec);
                    EnsureReferencesExist(tx, spec);
                    if (!Equals(spec.Endpoint, stored.Spec?.Endpoint))
                    {
                        EnsurePortsFree(tx, stored.Id, spec);
                    }

                    service.PreviousSpec = stored.Spec?.Clone();
                    service.PreviousSpecVersion = stored.SpecVersion;
                    service.Spec = WithNetworkIds(tx, spec);

                    // Above both versions: after a rollback the previous spec holds the higher one, and a version
                    // must never name two different specs (the scheduler groups tasks by it).
                    service.SpecVersion = Math.Max(stored.SpecVersion, stored.PreviousSpecVersion) + 1;
                    service.UpdateStatus = null;
                }

                if (IsJob(service.Spec))
                {
                    // Every change re-runs a job: a new iteration, numbered by the version it was read at (unique and
                    // increasing, since every write raises it).
                    service.JobStatus = new JobStatus { JobIteration = stored.Meta.Version, LastExecution = now };
                }

                tx.Update(service);
                return tx.Services.Get(service.Id)!;
            }, context.CancellationToken);
            if (request.Rollback)
            {
                LogServiceRolledBack(_logger, updated.Id, updated.Spec.Annotations.Name, updated.SpecVersion);
            }
            else
            {
                LogServiceUpdated(_logger, updated.Id, updated.Spec.Annotations.Name, updated.SpecVersion);
            }

            return new UpdateServiceResponse { Service = updated };
        });

    /// <inheritdoc/>
    public override Task<RemoveServiceResponse> RemoveService(RemoveServiceRequest request, ServerCallContext context) =>
        GuardAsync(async () =>
        {
            if (string.IsNullOrEmpty(request.ServiceId))
            {
                throw Invalid("a service ID must be provided");
            }

            var name = await _store.UpdateAsync(tx =>
            {
                var service = tx.Services.Get(request.ServiceId) ?? throw ServiceNotFound(request.ServiceId);
                tx.Delete<Service>(service.Id);
                return service.Spec?.Annotations?.Name ?? string.Empty;
            }, context.CancellationToken);
            LogServiceRemoved(_logger, request.ServiceId, name);
            return new RemoveServiceResponse();
        });

    /// <summary>
    /// Finds a service as operators name it: a full ID, else its name (case-insensitive), else a unique ID prefix.
    /// Null when nothing matches or a prefix is ambiguous; <paramref name="matches"/> tells which.
    /// </summary>
    internal static Service? FindService(ReadTransaction view, string reference, out int matches) =>
        FindByReference(view.Services, reference, out matches);

    /// <summary>An object by full ID, else by name (case-insensitive), else by unique ID prefix; see <see cref="FindService"/>.</summary>
    private static T? FindByReference<T>(TableView<T> table, string reference, out int matches)
        where T : class, IStoreObject, IMessage<T>
    {
        matches = 0;
        if (reference.Length == 0)
        {
            return null;
        }

        if (table.Get(reference) is { } exact)
        {
            matches = 1;
            return exact;
        }

        var named = table.ByName(reference);
        if (named.Count == 1)
        {
            matches = 1;
            return named.First();
        }

        var prefixed = table.ByIdPrefix(reference);
        matches = prefixed.Count;
        return prefixed.Count == 1 ? prefixed.First() : null;
    }

    /// <summary><see cref="FindService"/>, answering NotFound or InvalidArgument (ambiguous) as Docker does.</summary>
    internal static Service ResolveService(ReadTransaction view, string reference) =>
        FindService(view, reference, out var matches) ?? throw (matches > 1
            ? Invalid(AmbiguousMessage("service", reference, matches))
            : ServiceNotFound(reference));

    internal static string AmbiguousMessage(string kind, string reference, int matches) =>
        $"{kind} {reference} is ambiguous ({matches} matches found)";

    private static RpcException ServiceNotFound(string reference) =>
        new(new Status(StatusCode.NotFound, $"service {reference} not found"));

    private static bool IsJob(ServiceSpec? spec) =>
        spec?.ModeCase is ServiceSpec.ModeOneofCase.ReplicatedJob or ServiceSpec.ModeOneofCase.GlobalJob;

    private static void EnsureSpecSize(ServiceSpec spec)
    {
        var size = spec.CalculateSize();
        if (size > SpecLimits.MaxServiceSpecSize)
        {
            throw Invalid($"service {spec.Annotations?.Name}: the spec is {size} bytes encoded, more than the {SpecLimits.MaxServiceSpecSize} allowed; keep large data in configs or secrets");
        }
    }

    /// <summary>What an update may not change (SwarmKit refuses both with Unimplemented; Docker answers 501).</summary>
    private static void EnsureSameIdentity(Service stored, ServiceSpec spec)
    {
        var storedSpec = stored.Spec ?? new ServiceSpec();
        if (storedSpec.ModeCase != spec.ModeCase)
        {
            throw new RpcException(new Status(StatusCode.Unimplemented,
                $"service mode change is not allowed: service {storedSpec.Annotations?.Name} is {ServiceFilter.ModeName(storedSpec.ModeCase)} and the update asks for {ServiceFilter.ModeName(spec.ModeCase)}; remove the service and create it again"));
        }

        if (!string.Equals(storedSpec.Annotations?.Name, spec.Annotations?.Name, StringComparison.Ordinal))
        {
            throw new RpcException(new Status(StatusCode.Unimplemented,
                $"renaming services is not supported: service {storedSpec.Annotations?.Name} can't become {spec.Annotations?.Name}"));
        }
    }

    /// <summary>
    /// A copy of <paramref name="spec"/> whose network attachments name networks by ID: `docker stack deploy` sends
    /// names, `docker service create --network` IDs, and everything downstream (allocator, agents) expects IDs, as in
    /// moby. An unknown network is NotFound; the ingress network is attached through published ports, never by hand.
    /// </summary>
    private static ServiceSpec WithNetworkIds(WriteTransaction tx, ServiceSpec spec)
    {
        var copy = spec.Clone();
        foreach (var attachment in copy.Task?.Networks.Concat(copy.Networks) ?? copy.Networks)
        {
            var network = FindByReference(tx.Networks, attachment.Target, out var matches) ?? throw (matches > 1
                ? Invalid($"service {spec.Annotations?.Name}: {AmbiguousMessage("network", attachment.Target, matches)}")
                : new RpcException(new Status(StatusCode.NotFound, $"service {spec.Annotations?.Name}: network {attachment.Target} not found")));
            if (network.Spec?.Ingress == true)
            {
                throw Invalid($"service {spec.Annotations?.Name}: a service can't be attached to the ingress network \"{network.Spec.Annotations?.Name}\" explicitly; publish a port instead");
            }

            attachment.Target = network.Id;
        }

        return copy;
    }

    /// <summary>Secrets and configs are referenced by ID and name; both must still name the same object.</summary>
    private static void EnsureReferencesExist(WriteTransaction tx, ServiceSpec spec)
    {
        if (spec.Task?.Container is not { } container)
        {
            return;
        }

        List<string>? missing = null;
        foreach (var reference in container.Secrets)
        {
            if (tx.Secrets.Get(reference.SecretId)?.Spec?.Annotations?.Name != reference.SecretName)
            {
                (missing ??= []).Add(reference.SecretName);
            }
        }

        if (missing is not null)
        {
            throw Invalid($"service {spec.Annotations?.Name}: {(missing.Count == 1 ? "secret" : "secrets")} not found: {string.Join(", ", missing)}");
        }

        foreach (var reference in container.Configs)
        {
            if (tx.Configs.Get(reference.ConfigId)?.Spec?.Annotations?.Name != reference.ConfigName)
            {
                (missing ??= []).Add(reference.ConfigName);
            }
        }

        if (missing is not null)
        {
            throw Invalid($"service {spec.Annotations?.Name}: {(missing.Count == 1 ? "config" : "configs")} not found: {string.Join(", ", missing)}");
        }
    }

    /// <summary>
    /// Refuses published ingress ports another service holds: the ports the allocator gave it, and the explicit
    /// ports of its spec that the allocator has not processed yet (two creates in a row must not both get 8080).
    /// </summary>
    private static void EnsurePortsFree(WriteTransaction tx, string serviceId, ServiceSpec spec)
    {
        if (spec.Endpoint is not { Ports.Count: > 0 })
        {
            return;
        }

        var error = PortAllocator.FromServices(WithPendingPorts(tx.Services.All())).Validate(serviceId, spec.Endpoint);
        if (error is not null)
        {
            throw Invalid($"service {spec.Annotations?.Name}: {error}");
        }
    }

    private static IEnumerable<Service> WithPendingPorts(ObjectSet<Service> services)
    {
        foreach (var service in services)
        {
            var pending = service.Spec?.Endpoint?.Ports.Where(p => p.PublishMode == PublishMode.Ingress && p.PublishedPort != 0
                && !(service.Endpoint?.Ports.Any(q => q.PublishMode == PublishMode.Ingress && q.Protocol == p.Protocol && q.PublishedPort == p.PublishedPort) ?? false)).ToList();
            if (pending is null || pending.Count == 0)
            {
                yield return service;
                continue;
            }

            var endpoint = new Endpoint();
            endpoint.Ports.AddRange(service.Endpoint?.Ports ?? []);
            endpoint.Ports.AddRange(pending);
            yield return new Service { Id = service.Id, Spec = new ServiceSpec { Annotations = service.Spec!.Annotations }, Endpoint = endpoint };
        }
    }

    [LoggerMessage(EventId = 6104, Level = LogLevel.Information, Message = "Service {ServiceId} ({ServiceName}) created, mode {Mode}")]
    private static partial void LogServiceCreated(ILogger logger, string serviceId, string serviceName, ServiceSpec.ModeOneofCase mode);

    [LoggerMessage(EventId = 6105, Level = LogLevel.Information, Message = "Service {ServiceId} ({ServiceName}) updated to spec version {SpecVersion}")]
    private static partial void LogServiceUpdated(ILogger logger, string serviceId, string serviceName, ulong specVersion);

    [LoggerMessage(EventId = 6106, Level = LogLevel.Information, Message = "Service {ServiceId} ({ServiceName}) rolled back to its previous spec (version {SpecVersion})")]
    private static partial void LogServiceRolledBack(ILogger logger, string serviceId, string serviceName, ulong specVersion);

    [LoggerMessage(EventId = 6107, Level = LogLevel.Information, Message = "Service {ServiceId} ({ServiceName}) removed; its tasks will be shut down")]
    private static partial void LogServiceRemoved(ILogger logger, string serviceId, string serviceName);
}
