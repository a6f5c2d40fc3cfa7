()=>{let t,c,a,e=0;g("click",i=>{let l=n();l-e<1e3&&Math.hypot(t-i.clientX,c-i.clientY)<30?a++:(e=l,t=i.clientX,c=i.clientY,a=1),3==a&&R("rage_click",void 0,m(_(i)))})}
