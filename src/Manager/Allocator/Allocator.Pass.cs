using Google.Protobuf.WellKnownTypes;
using Shoal.Api;

namespace Shoal.Manager.Allocator;

public sealed partial class Allocator
{
    private readonly record struct ServiceDecision(Service Service, EndpointSpec Spec, Endpoint Endpoint);

    /// <summary>Test seam: runs after a pass decided and before it commits, to change the store in between.</summary>
    internal Func<CancellationToken, ValueTask>? BeforeCommitAsync { get; set; }

    /// <summary>One allocation pass: services first, then the tasks they (and tasks without a service) let through.</summary>
    private async Task PassAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _passesStarted);
        if (_portsMayBeFree)
        {
            // Something released ports since the refused services were last tried: try them again, once.
            _portsMayBeFree = false;
            _toAllocate.UnionWith(_refused.Keys);
            _refused.Clear();
        }

        var decisions = AllocateServices();
        var allocatedNow = decisions.Select(d => d.Service.Id).ToHashSet(StringComparer.Ordinal);
        var tasks = _new.Values
            .Where(t => t.ServiceId.Length == 0 || allocatedNow.Contains(t.ServiceId) || IsReady(t))
            .ToList();

        var skipped = 0;
        var moved = 0;
        var commits = 0;
        if (decisions.Count > 0 || tasks.Count > 0)
        {
            if (BeforeCommitAsync is { } hook)
            {
                await hook(cancellationToken);
            }

            var now = Timestamp.FromDateTimeOffset(_time.GetUtcNow());
            commits = await _store.BatchAsync(async batch =>
            {
                foreach (var decision in decisions)
                {
                    await batch.UpdateAsync(tx =>
                    {
                        var current = tx.Services.Get(decision.Service.Id);
                        if (current is null || !SpecOf(current).Equals(decision.Spec))
                        {
                            // Removed, or its endpoint spec changed since the decision: the event that says so is
                            // queued, and the next pass allocates from it.
                            skipped++;
                            return;
                        }

                        var copy = current.Clone();
                        copy.Endpoint = decision.Endpoint.Clone();
                        tx.Update(copy);
                    });
                }

                foreach (var task in tasks)
                {
                    await batch.UpdateAsync(tx =>
                    {
                        var current = tx.Tasks.Get(task.Id);
                        if (current is null || !IsNew(current))
                        {
                            skipped++;
                            return;
                        }

                        var copy = current.Clone();
                        if (current.ServiceId.Length > 0)
                        {
                            if (tx.Services.Get(current.ServiceId) is not { } service || !IsAllocated(service))
                            {
                                // The service's allocation did not commit (it changed meanwhile): the task waits for
                                // the next one.
                                skipped++;
                                return;
                            }

                            copy.Endpoint = service.Endpoint.Clone();
                        }

                        // Milestone 2: network attachments (task.networks addresses from each network's IPAM) and the
                        // service's VIPs are allocated here, before the task may leave NEW.
                        copy.Status = new SwarmTaskStatus { State = TaskState.Pending, Message = PendingMessage, Timestamp = now };
                        tx.Update(copy);
                        moved++;
                    });
                }
            }, cancellationToken);
        }

        LastPassCommits = commits;
        LogPass(_logger, decisions.Count, _refused.Count, moved, skipped, commits);
        Interlocked.Increment(ref _passesCompleted);
    }

    /// <summary>Decides the endpoint of every service queued for allocation, oldest first (so of two services asking
    /// for the same port the later one is refused), and records them in the port table.</summary>
    private List<ServiceDecision> AllocateServices()
    {
        var decisions = new List<ServiceDecision>();
        var queued = _toAllocate
            .Select(id => _services.GetValueOrDefault(id))
            .OfType<Service>()
            .OrderBy(s => s.Meta?.CreatedAt?.ToDateTimeOffset() ?? DateTimeOffset.MinValue)
            .ThenBy(s => s.Meta?.Version ?? 0)
            .ThenBy(s => s.Id, StringComparer.Ordinal)
            .ToList();
        _toAllocate.Clear();
        foreach (var service in queued)
        {
            var spec = SpecOf(service);
            var ports = Ports.Allocate(service.Id, NameOf(service), spec, service.Endpoint, out var error);
            if (ports is null)
            {
                _refused[service.Id] = error!;
                LogServiceRefused(_logger, NameOf(service), service.Id, error!);
                continue;
            }

            var endpoint = new Endpoint { Spec = spec.Clone() };
            endpoint.Ports.AddRange(ports);
            if (IsAllocated(service) && service.Endpoint.Equals(endpoint))
            {
                // Already stored as decided (e.g. re-taken after a restart): nothing to write.
                continue;
            }

            decisions.Add(new ServiceDecision(service, spec, endpoint));
        }

        return decisions;
    }
}
