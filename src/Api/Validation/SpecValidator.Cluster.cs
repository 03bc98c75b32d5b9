using Shoal.Api.Defaults;

namespace Shoal.Api.Validation;

public static partial class SpecValidator
{
    /// <summary>
    /// The cluster-wide settings. Zero values of the Raft ticks and intervals mean "default" (see
    /// <see cref="ClusterDefaults"/>), so rules that compare them use the values that will actually apply.
    /// </summary>
    public static ValidationResult Validate(ClusterSpec? spec)
    {
        if (spec is null)
        {
            return Missing("cluster");
        }

        var problems = new Problems("cluster", spec.Annotations?.Name);
        if (string.IsNullOrEmpty(spec.Annotations?.Name))
        {
            problems.Add("name must be provided");
        }

        CheckLabels(problems, spec.Annotations?.Labels, "labels");
        if (spec.Orchestration is { HasTaskHistoryRetentionLimit: true, TaskHistoryRetentionLimit: < 0 })
        {
            problems.Add("orchestration.task_history_retention_limit must be >= 0, got "
                + spec.Orchestration.TaskHistoryRetentionLimit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        if (spec.Raft is { } raft)
        {
            var heartbeat = raft.HeartbeatTick == 0 ? ClusterDefaults.HeartbeatTick : raft.HeartbeatTick;
            var election = raft.ElectionTick == 0 ? ClusterDefaults.ElectionTick : raft.ElectionTick;
            if (election <= heartbeat)
            {
                problems.Add($"raft.election_tick ({election}) must be greater than raft.heartbeat_tick ({heartbeat}), "
                    + "or followers would start elections between heartbeats");
            }
        }

        var heartbeatPeriod = CheckDuration(problems, spec.Dispatcher?.HeartbeatPeriod, "dispatcher.heartbeat_period");
        var minHeartbeat = Durations.ToNanos(SpecLimits.MinDispatcherHeartbeatPeriod);
        if (heartbeatPeriod is { } period && period != 0 && period < minHeartbeat)
        {
            problems.Add($"dispatcher.heartbeat_period must be 0 (the default, {Text.FormatDuration(ClusterDefaults.DispatcherHeartbeatPeriod)}) "
                + $"or at least {Text.FormatDuration(minHeartbeat)}, got {Text.FormatDuration(period)}");
        }

        if (spec.CaConfig is { } ca)
        {
            CheckCaConfig(problems, ca);
        }

        return problems.ToResult();
    }

    private static void CheckCaConfig(Problems problems, CaConfig ca)
    {
        // As SwarmKit: an expiry that is present must be at least the minimum, even when it is zero.
        var expiry = CheckDuration(problems, ca.NodeCertExpiry, "ca_config.node_cert_expiry");
        var minExpiry = Durations.ToNanos(SpecLimits.MinNodeCertExpiry);
        if (expiry is { } value && value < minExpiry)
        {
            problems.Add($"ca_config.node_cert_expiry must be at least {Text.FormatDuration(minExpiry)}, got {Text.FormatDuration(value)}");
        }

        for (var i = 0; i < ca.ExternalCas.Count; i++)
        {
            var external = ca.ExternalCas[i];
            if (!System.Enum.IsDefined(external.Protocol))
            {
                problems.Add($"ca_config.external_cas[{i}].protocol has unknown value {(int)external.Protocol}");
            }

            if (!Uri.TryCreate(external.Url, UriKind.Absolute, out var url) || url.Scheme != Uri.UriSchemeHttps || url.Host.Length == 0)
            {
                problems.Add($"ca_config.external_cas[{i}].url {Text.Quote(external.Url)} must be an absolute https:// URL");
            }
        }

        if (ca.SigningCaKey.Length > 0 && ca.SigningCaCert.Length == 0)
        {
            problems.Add("ca_config.signing_ca_cert must be provided when ca_config.signing_ca_key is");
        }
    }
}
