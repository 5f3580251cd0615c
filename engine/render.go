package engine

import (
	"fmt"
	"strings"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/outbox"
)

// render turns a send action into the message for one follower. Template
// and subscribe fields longer than WeChat keeps are cut, with a warning.
func render(s *campaigns.Send, kind, campaignID, messageID, openid string, data *campaigns.Data) (*outbox.Message, []string, error) {
	m := &outbox.Message{ToUser: openid, TemplateID: s.TemplateID}
	var warnings []string
	var err error
	if m.Page, err = deepLink(s, campaignID, messageID, data); err != nil {
		return nil, nil, err
	}
	if len(s.Data) > 0 {
		m.Data = make(map[string]string, len(s.Data))
		for k, t := range s.Data {
			v, err := t.Render(data)
			if err != nil {
				return nil, nil, fmt.Errorf("data.%s: %w", k, err)
			}
			// Template fields are all cut at 20 by WeChat; a subscribe
			// notification's thing fields are refused over 20, others differ.
			limit := kind == campaigns.ActTemplate || kind == campaigns.ActSubscribe && strings.HasPrefix(k, "thing")
			if cut, ok := campaigns.Truncate(v, campaigns.MaxTemplateField); ok && limit {
				warnings = append(warnings, fmt.Sprintf("data.%s cut to %d characters", k, campaigns.MaxTemplateField))
				v = cut
			}
			m.Data[k] = v
		}
	}
	if s.Text != nil {
		if m.Text, err = s.Text.Render(data); err != nil {
			return nil, nil, fmt.Errorf("text: %w", err)
		}
	}
	if s.Card != nil {
		title, err := s.Card.Title.Render(data)
		if err != nil {
			return nil, nil, fmt.Errorf("miniprogram.title: %w", err)
		}
		m.Card = &outbox.Card{Title: title, ThumbMediaID: s.Card.ThumbMediaID}
	}
	if s.Fallback != nil {
		fb, w, err := render(s.Fallback, campaigns.ActTemplate, campaignID, messageID, openid, data)
		if err != nil {
			return nil, nil, fmt.Errorf("fallback: %w", err)
		}
		m.Fallback = fb
		warnings = append(warnings, w...)
	}
	return m, warnings, nil
}

// deepLink renders the page's query and adds omo_c and omo_m.
func deepLink(s *campaigns.Send, campaignID, messageID string, data *campaigns.Data) (string, error) {
	if s.Page == "" {
		return "", nil
	}
	q := make(map[string]string, len(s.Query))
	for k, t := range s.Query {
		v, err := t.Render(data)
		if err != nil {
			return "", fmt.Errorf("query.%s: %w", k, err)
		}
		q[k] = v
	}
	return outbox.DeepLink(s.Page, s.QueryKeys(), q, campaignID, messageID), nil
}
