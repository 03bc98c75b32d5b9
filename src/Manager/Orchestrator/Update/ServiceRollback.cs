using Google.Protobuf.WellKnownTypes;
using Shoal.Api;

namespace Shoal.Manager.Orchestrator.Update;

/// <summary>
/// The rollback's swap, the one the control API's rollback and the update supervisor's rollback failure action both
/// write: the previous spec (with its version) becomes the spec, the current one becomes the previous one, and the
/// update status says ROLLBACK_STARTED with why. The update supervisor then rolls the service out by its rollback config.
/// </summary>
public static class ServiceRollback
{
    /// <summary>A copy of <paramref name="stored"/> with its previous spec swapped in; it must have one.</summary>
    public static Service Swapped(Service stored, string message, Timestamp startedAt)
    {
        ArgumentNullException.ThrowIfNull(stored);
        var previous = stored.PreviousSpec ?? throw new ArgumentException($"service {stored.Id} has no previous spec", nameof(stored));
        var copy = stored.Clone();
        copy.Spec = previous.Clone();
        copy.SpecVersion = stored.PreviousSpecVersion;
        copy.PreviousSpec = stored.Spec?.Clone();
        copy.PreviousSpecVersion = stored.SpecVersion;
        copy.UpdateStatus = new UpdateStatus { State = UpdateState.RollbackStarted, Message = message, StartedAt = startedAt };
        return copy;
    }
}
